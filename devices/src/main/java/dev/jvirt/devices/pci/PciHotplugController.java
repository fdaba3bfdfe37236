package dev.jvirt.devices.pci;

import dev.jvirt.devices.bus.PortIoDevice;

/**
 * The ACPI PCI hot-plug controller of QEMU's pc machine (docs/specs/acpi_pci_hotplug.rst), for
 * bus 0. The machine reports a plugged device or an unplug request; the controller records it in
 * a per-slot bitmap and fires a general-purpose event, whose DSDT handler (\_GPE._E01 calling
 * \_SB.PCI0.PCNT) reads the bitmaps and Notifies the slot objects. The guest's _EJ0 writes the
 * slot's bit to the eject register once it has let go of the device, and the machine removes it.
 *
 * <pre>
 * offset 0x00  PCIU  read: slots with a device plugged since the last read (cleared by the read)
 * offset 0x04  PCID  read: slots whose device the host asked to remove (cleared when ejected)
 * offset 0x08  B0EJ  write: one bit per slot to eject; read: feature bits, none
 * offset 0x0C  PCRM  read: slots whose devices may be removed
 * offset 0x10  BNUM  read/write: bus selector; only bus 0 exists, other buses read as empty
 * </pre>
 * Registers are 4 bytes wide; narrower accesses see or change the bytes they cover.
 */
public final class PciHotplugController implements PortIoDevice {

    /** Where QEMU's piix4 machine puts it; the DSDT's OperationRegions name the same port. */
    public static final int BASE = 0xAE00;
    public static final int PORT_COUNT = 0x14;
    public static final int UP_OFFSET = 0x00, DOWN_OFFSET = 0x04, EJECT_OFFSET = 0x08, REMOVABLE_OFFSET = 0x0C, SELECT_OFFSET = 0x10;
    /** The GPE0 event the controller signals, which the DSDT handles in \_GPE._E01. */
    public static final int GPE_EVENT = 1;
    /** Slots 1-31: slot 0 holds the host bridge, which never leaves. */
    public static final int ALL_SLOTS_BUT_HOST_BRIDGE = 0xFFFF_FFFE;

    /** The machine's side of an eject: the guest is done with the device in {@code slot}. */
    @FunctionalInterface
    public interface EjectListener {
        /** Runs on a vCPU thread, outside the controller's lock; it must not throw. */
        void slotEjected(int slot);
    }

    private final int hotpluggableSlots;
    private final Runnable raiseGpe;
    private final EjectListener ejectListener;
    private int up;
    private int down;
    private int busSelector;

    /**
     * @param hotpluggableSlots bit per slot the guest may see come and go; the DSDT's slot objects
     *                          must be built from the same mask
     * @param raiseGpe          sets GPE0 status bit {@link #GPE_EVENT}, e.g. {@code () -> pm.raiseGpe(GPE_EVENT)}
     */
    public PciHotplugController(int hotpluggableSlots, Runnable raiseGpe, EjectListener ejectListener) {
        this.hotpluggableSlots = hotpluggableSlots;
        this.raiseGpe = raiseGpe;
        this.ejectListener = ejectListener;
    }

    /** A device was put into {@code slot}: the guest gets a Device Check for it. */
    public void plugged(int slot) {
        synchronized (this) {
            checkHotpluggable(slot);
            up |= 1 << slot;
        }
        raiseGpe.run();
    }

    /**
     * The host asks for the device in {@code slot} to go (device_del): the guest gets an Eject
     * Request, and the device stays until the guest ejects it, as on QEMU.
     */
    public void unplugRequested(int slot) {
        synchronized (this) {
            checkHotpluggable(slot);
            down |= 1 << slot;
        }
        raiseGpe.run();
    }

    /**
     * System reset: no event is pending for the new guest and bus 0 is selected. An unplug the
     * host asked for and the old guest never acknowledged completes now (the slots are ejected,
     * through the eject listener), since nothing is left to acknowledge it; the freshly booting
     * guest then never sees the device.
     */
    public void reset() {
        int ejected;
        synchronized (this) {
            ejected = down;
            up = 0;
            down = 0;
            busSelector = 0;
        }
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            if ((ejected & (1 << slot)) != 0) {
                ejectListener.slotEjected(slot);
            }
        }
    }

    /** Whether an unplug of {@code slot} was requested and the guest has not ejected it yet. */
    public synchronized boolean unplugPending(int slot) {
        return slot >= 0 && slot < PciBus.SLOTS && (down & (1 << slot)) != 0;
    }

    private void checkHotpluggable(int slot) {
        if (slot < 0 || slot >= PciBus.SLOTS || (hotpluggableSlots & (1 << slot)) == 0) {
            throw new IllegalArgumentException("PCI slot " + slot + " is not hot-pluggable");
        }
    }

    @Override
    public synchronized int read(int offset, int size) {
        if (offset < 0 || offset >= PORT_COUNT) {
            return 0;
        }
        int register = offset & ~3;
        int shift = 8 * (offset & 3);
        int registerValue = switch (register) {
            case UP_OFFSET -> busSelector == 0 ? up : 0;
            case DOWN_OFFSET -> busSelector == 0 ? down : 0;
            case REMOVABLE_OFFSET -> busSelector == 0 ? hotpluggableSlots : 0;
            case SELECT_OFFSET -> busSelector;
            default -> 0;                                   // EJECT reads as "no extra features"
        };
        int value = registerValue >>> shift;
        if (register == UP_OFFSET && busSelector == 0) {
            // Reading hands the events to the guest's handler: clear only the bits this access returned.
            up &= ~(bytesMask(size) << shift);
        }
        return value;
    }

    @Override
    public void write(int offset, int size, int value) {
        if (offset < 0 || offset >= PORT_COUNT) {
            return;
        }
        int register = offset & ~3;
        int shift = 8 * (offset & 3);
        int bits = (value & bytesMask(size)) << shift;
        int ejected;
        synchronized (this) {
            if (register == SELECT_OFFSET) {
                busSelector = (busSelector & ~(bytesMask(size) << shift)) | bits;
                return;
            }
            if (register != EJECT_OFFSET || busSelector != 0) {
                return;                                     // the status registers are read-only
            }
            ejected = bits & hotpluggableSlots;             // a guest cannot eject the host bridge
            up &= ~ejected;
            down &= ~ejected;
        }
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            if ((ejected & (1 << slot)) != 0) {
                ejectListener.slotEjected(slot);
            }
        }
    }

    /** The low {@code size} bytes; sizes other than 1, 2 and 4 act as 4. */
    private static int bytesMask(int size) {
        return switch (size) {
            case 1 -> 0xFF;
            case 2 -> 0xFFFF;
            default -> 0xFFFF_FFFF;
        };
    }
}
