package dev.jvirt.devices.pci;

import dev.jvirt.devices.bus.PortIoDevice;

import java.util.Objects;

/**
 * PCI configuration mechanism #1 on ports 0xCF8 (CONFIG_ADDRESS, 32-bit accesses only) and
 * 0xCFC-0xCFF (CONFIG_DATA, any width at 0xCFC+n), the reset control register at 0xCF9, and the
 * host bridge itself at 00:00.0 (an Intel 440FX-compatible host bridge, class 06.00, which every
 * x86 guest knows). Absent functions read as all ones, which is how the guest knows a slot is
 * empty.
 */
public final class PciHostBridge implements PortIoDevice {

    public static final int BASE = 0xCF8;
    public static final int PORT_COUNT = 8;
    public static final int VENDOR_INTEL = 0x8086, DEVICE_440FX = 0x1237;

    private static final int ADDRESS = 0, RESET_CONTROL = 1, DATA = 4;
    private static final int ENABLE = 0x8000_0000;
    /** Bits 30-24 and 1-0 of CONFIG_ADDRESS are reserved and read back 0. */
    private static final int ADDRESS_BITS = ENABLE | 0x00FF_FFFC;
    /** Reset control: bit 1 chooses a hard reset, bit 2 starts it (Linux's reboot=pci writes 0x02 then 0x06). */
    private static final int RESET_CPU = 0x04, RESET_CONTROL_BITS = 0x0A;

    private final PciBus bus;
    private final Runnable resetRequest;
    private final PciConfigSpace config = new PciConfigSpace(VENDOR_INTEL, DEVICE_440FX, 0x06, 0x00, 0x00, 0x02);
    private final byte[] powerOnConfig = config.snapshot();
    private int address;
    private int resetControl;

    /** A host bridge that ignores reset requests at 0xCF9. */
    public PciHostBridge(PciBus bus) {
        this(bus, () -> { });
    }

    /**
     * Attaches the host bridge to slot 0 of {@code bus}.
     *
     * @param resetRequest called on the vCPU thread, outside any device lock, when the guest
     *                     resets the machine through port 0xCF9
     */
    public PciHostBridge(PciBus bus, Runnable resetRequest) {
        this.bus = Objects.requireNonNull(bus, "bus");
        this.resetRequest = Objects.requireNonNull(resetRequest, "resetRequest");
        bus.attach(0, new PciDevice() {
            @Override
            public int readConfig(int offset, int size) {
                return config.read(offset, size);
            }

            @Override
            public void writeConfig(int offset, int size, int value) {
                config.write(offset, size, value);
            }
        });
    }

    @Override
    public int read(int offset, int size) {
        synchronized (this) {
            if (offset == ADDRESS && size == 4) {
                return address;
            }
            if (offset == RESET_CONTROL && size == 1) {
                return resetControl;
            }
            if (offset < DATA || offset >= PORT_COUNT) {
                return -1;
            }
            PciDevice device = selected();
            int register = (address & 0xFC) + (offset - DATA);
            return device != null && fits(register, size) ? device.readConfig(register, size) : -1;
        }
    }

    @Override
    public void write(int offset, int size, int value) {
        boolean reset = false;
        synchronized (this) {
            if (offset == ADDRESS && size == 4) {
                address = value & ADDRESS_BITS;
            } else if (offset == RESET_CONTROL && size == 1) {
                reset = (value & RESET_CPU) != 0 && (resetControl & RESET_CPU) == 0;
                resetControl = value & RESET_CONTROL_BITS; // the start bit is self-clearing
            } else if (offset >= DATA && offset < PORT_COUNT) {
                PciDevice device = selected();
                int register = (address & 0xFC) + (offset - DATA);
                if (device != null && fits(register, size)) {
                    device.writeConfig(register, size, value);
                }
            }
        }
        if (reset) {
            resetRequest.run();
        }
    }

    /** System reset: CONFIG_ADDRESS and the reset control register clear, the bridge's config space as built. */
    public synchronized void reset() {
        address = 0;
        resetControl = 0;
        config.restore(powerOnConfig);
    }

    private static boolean fits(int register, int size) {
        return (size == 1 || size == 2 || size == 4) && register + size <= PciConfigSpace.SIZE;
    }

    private PciDevice selected() {
        if ((address & ENABLE) == 0) {
            return null;
        }
        return bus.device((address >> 16) & 0xFF, (address >> 11) & 0x1F, (address >> 8) & 0x7);
    }
}
