package dev.jvirt.virtio.pci;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.pci.MsiVectorAllocator;
import dev.jvirt.devices.pci.MsixCapability;
import dev.jvirt.devices.pci.MsixTable;
import dev.jvirt.devices.pci.PciBar;
import dev.jvirt.devices.pci.PciConfigSpace;
import dev.jvirt.devices.pci.PciDevice;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;

import java.util.List;
import java.util.Objects;

/**
 * A virtio device on PCI, the modern (virtio 1.x, non-transitional) way (virtio 1.2, section 4.1),
 * laid out as QEMU lays it out so guests and firmware find what they expect:
 * <ul>
 * <li>BAR 4, 16 KiB of 32-bit memory: common configuration at 0x0000, ISR status at 0x1000,
 *     device configuration at 0x2000, notifications at 0x3000 (queue q at q * 4);</li>
 * <li>BAR 1: the MSI-X table at 0 and the pending bits after it (at 0x800 when there is room),
 *     one vector per queue plus one for configuration changes;</li>
 * <li>vendor capabilities (0x09) pointing at each structure, a PCI configuration access
 *     capability, and the MSI-X capability.</li>
 * </ul>
 * Guest accesses with memory decoding off read as all ones and are otherwise ignored.
 */
public final class VirtioPciDevice implements PciDevice {

    public static final int VENDOR_ID = 0x1AF4;
    /** PCI_SUBDEVICE_ID_QEMU: what QEMU's modern-only virtio devices carry (the specification asks for 0x40 or more). */
    public static final int SUBSYSTEM_ID = 0x1100;

    public static final int MSIX_BAR = 1;
    public static final int VIRTIO_BAR = 4;
    public static final int VIRTIO_BAR_SIZE = 0x4000;
    static final int REGION_SIZE = 0x1000;
    static final int COMMON_OFFSET = 0x0000, ISR_OFFSET = 0x1000, DEVICE_OFFSET = 0x2000, NOTIFY_OFFSET = 0x3000;
    static final int NOTIFY_MULTIPLIER = 4;
    /** Queues whose notify registers fit in the notification region. */
    public static final int MAX_QUEUES = REGION_SIZE / NOTIFY_MULTIPLIER;

    static final int CAP_VENDOR = 0x09;
    static final int CFG_COMMON = 1, CFG_NOTIFY = 2, CFG_ISR = 3, CFG_DEVICE = 4, CFG_PCI = 5;
    /** Offsets inside virtio_pci_cfg_cap of the window fields (from the capability's start). */
    private static final int CFG_BAR = 4, CFG_OFFSET = 8, CFG_LENGTH = 12, CFG_DATA = 16;

    private final VirtioDevice device;
    private final PciConfigSpace space;
    private final MsixTable msix;
    private final MsixCapability msixCapability;
    private final int pbaOffset;
    private final VirtioPciInterrupts interrupts;
    private final CommonConfig common;
    private final int pciCfgCapability;
    /** Config space as built: what a function reset puts back (BARs unassigned, decoding off). */
    private final byte[] powerOnConfig;
    /** COMMAND's memory-space enable, cached: every BAR access checks it. */
    private volatile boolean memoryDecoding;

    public VirtioPciDevice(VirtioDevice device, GuestMemory memory, MsiVectorAllocator vectors, NotifyRouter router,
                           InterruptLine intx) {
        this.device = Objects.requireNonNull(device, "device");
        Objects.requireNonNull(memory, "memory");
        Objects.requireNonNull(vectors, "vectors");
        Objects.requireNonNull(router, "router");
        Objects.requireNonNull(intx, "intx");
        int type = device.deviceType();
        if (type < 1 || type > 0x3F) {
            throw new IllegalArgumentException("virtio device type " + type + " has no modern PCI device ID (0x1041-0x107F)");
        }
        int queueCount = device.queueCount();
        if (queueCount < 0 || queueCount > MAX_QUEUES) {
            throw new IllegalArgumentException(queueCount + " queues do not fit the notification region (at most " + MAX_QUEUES + ")");
        }
        if (device.configSize() < 0 || device.configSize() > REGION_SIZE) {
            throw new IllegalArgumentException("device configuration of " + device.configSize() + " bytes exceeds " + REGION_SIZE);
        }

        int classCode = classCode(type);
        this.space = new PciConfigSpace(VENDOR_ID, VirtioDeviceType.pciDeviceId(type),
                classCode >>> 16, (classCode >>> 8) & 0xFF, classCode & 0xFF, 1);
        space.set16(PciConfigSpace.SUBSYSTEM_VENDOR_ID, VENDOR_ID);
        space.set16(PciConfigSpace.SUBSYSTEM_ID, SUBSYSTEM_ID);
        space.set8(PciConfigSpace.INTERRUPT_PIN, 1);

        this.msix = new MsixTable(queueCount + 1, vectors);
        this.pbaOffset = Math.max(0x800, msix.tableBytes());
        space.declareMemoryBar(MSIX_BAR, Math.max(0x1000, Integer.highestOneBit(pbaOffset + msix.pbaBytes() - 1) << 1));
        space.declareMemoryBar(VIRTIO_BAR, VIRTIO_BAR_SIZE);

        addVendorCapability(CFG_COMMON, VIRTIO_BAR, COMMON_OFFSET, REGION_SIZE, null);
        addVendorCapability(CFG_ISR, VIRTIO_BAR, ISR_OFFSET, REGION_SIZE, null);
        if (device.configSize() > 0) {
            addVendorCapability(CFG_DEVICE, VIRTIO_BAR, DEVICE_OFFSET, REGION_SIZE, null);
        }
        addVendorCapability(CFG_NOTIFY, VIRTIO_BAR, NOTIFY_OFFSET, REGION_SIZE, NOTIFY_MULTIPLIER);
        // Section 4.1.4.9: the window through config space that firmware without MMIO access uses.
        this.pciCfgCapability = addVendorCapability(CFG_PCI, 0, 0, 0, 0);
        space.setWritable(pciCfgCapability + CFG_BAR, 1, 0xFF);
        space.setWritable(pciCfgCapability + CFG_OFFSET, 12, -1L);
        this.msixCapability = new MsixCapability(space, msix, MSIX_BAR, 0, MSIX_BAR, pbaOffset);

        this.interrupts = new VirtioPciInterrupts(msix, intx, queueCount);
        this.common = new CommonConfig(device, memory, interrupts, router,
                () -> barAddress(VIRTIO_BAR) + NOTIFY_OFFSET, NOTIFY_MULTIPLIER);
        this.powerOnConfig = space.snapshot();
    }

    /** The class code QEMU gives each virtio device (class, subclass, programming interface). */
    static int classCode(int deviceType) {
        return switch (deviceType) {
            case VirtioDeviceType.NET -> 0x020000;
            case VirtioDeviceType.BLOCK -> 0x010000;
            case VirtioDeviceType.CONSOLE -> 0x078000;
            default -> 0x00FF00;
        };
    }

    /** struct virtio_pci_cap (16 bytes), plus a trailing dword for the notify and PCI cfg capabilities. */
    private int addVendorCapability(int cfgType, int bar, int offset, int length, Integer extra) {
        int capLength = extra == null ? 16 : 20;
        byte[] body = new byte[capLength - 2];
        body[0] = (byte) capLength;
        body[1] = (byte) cfgType;
        body[2] = (byte) bar;
        putInt(body, 6, offset);
        putInt(body, 10, length);
        if (extra != null) {
            putInt(body, 14, extra);
        }
        return space.addCapability(CAP_VENDOR, body);
    }

    private static void putInt(byte[] into, int at, int value) {
        for (int i = 0; i < 4; i++) {
            into[at + i] = (byte) (value >>> (8 * i));
        }
    }

    public VirtioDevice device() {
        return device;
    }

    @Override
    public int readConfig(int offset, int size) {
        if (overlaps(offset, size, pciCfgCapability + CFG_DATA, 4)) {
            refreshConfigWindow();
        }
        return msixCapability.overlayRead(offset, size, space.read(offset, size));
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        space.write(offset, size, value);
        msixCapability.configWritten(offset, size, value);
        if (overlaps(offset, size, PciConfigSpace.COMMAND, 2)) {
            int command = space.read(PciConfigSpace.COMMAND, 2);
            memoryDecoding = (command & PciConfigSpace.COMMAND_MEMORY) != 0;
            interrupts.setIntxDisabled((command & PciConfigSpace.COMMAND_INTX_DISABLE) != 0);
        }
        if (overlaps(offset, size, pciCfgCapability + CFG_DATA, 4)) {
            ConfigWindow window = configWindow();
            if (window != null) {
                writeVirtioBar(window.offset, window.length, space.read(pciCfgCapability + CFG_DATA, 4));
            }
        }
    }

    private static boolean overlaps(int offset, int size, int start, int length) {
        return offset < start + length && start < offset + size;
    }

    private record ConfigWindow(int offset, int length) {
    }

    /** The BAR range the driver aimed the PCI cfg window at, if it is one the window can reach. */
    private ConfigWindow configWindow() {
        int bar = space.read(pciCfgCapability + CFG_BAR, 1);
        long offset = Integer.toUnsignedLong(space.read(pciCfgCapability + CFG_OFFSET, 4));
        int length = space.read(pciCfgCapability + CFG_LENGTH, 4);
        boolean sized = length == 1 || length == 2 || length == 4;
        if (bar != VIRTIO_BAR || !sized || offset % length != 0 || offset + length > VIRTIO_BAR_SIZE) {
            return null;
        }
        return new ConfigWindow((int) offset, length);
    }

    private void refreshConfigWindow() {
        ConfigWindow window = configWindow();
        if (window != null) {
            space.set32(pciCfgCapability + CFG_DATA, (int) readVirtioBar(window.offset, window.length));
        }
    }

    @Override
    public List<PciBar> bars() {
        return space.bars();
    }

    @Override
    public long barAddress(int index) {
        return index == MSIX_BAR || index == VIRTIO_BAR ? space.barAddress(index) : 0;
    }

    @Override
    public long readBar(int index, long offset, int size) {
        long ones = size >= 8 ? -1L : (1L << (8 * Math.max(size, 0))) - 1;
        if (!memoryDecoding || size < 1 || size > 8 || offset < 0) {
            return ones;
        }
        return switch (index) {
            case VIRTIO_BAR -> offset + size <= VIRTIO_BAR_SIZE ? readVirtioBar((int) offset, size) : ones;
            case MSIX_BAR -> offset < pbaOffset ? msix.readTable(offset, size) : msix.readPba(offset - pbaOffset, size);
            default -> ones;
        };
    }

    @Override
    public void writeBar(int index, long offset, int size, long value) {
        if (!memoryDecoding || size < 1 || size > 8 || offset < 0) {
            return;
        }
        switch (index) {
            case VIRTIO_BAR -> {
                if (offset + size <= VIRTIO_BAR_SIZE) {
                    writeVirtioBar((int) offset, size, value);
                }
            }
            case MSIX_BAR -> {
                if (offset < pbaOffset) {
                    msix.writeTable(offset, size, value);
                }
            }
            default -> { }
        }
    }

    private long readVirtioBar(int offset, int size) {
        int region = offset & ~(REGION_SIZE - 1);
        int at = offset - region;
        if (at + size > REGION_SIZE) {
            return size == 8 ? -1L : (1L << (8 * size)) - 1;
        }
        return switch (region) {
            case COMMON_OFFSET -> common.read(at, size);
            case ISR_OFFSET -> at == 0 ? interrupts.readAndClearIsr() : 0;
            case DEVICE_OFFSET -> readDeviceConfig(at, size);
            default -> 0; // notify registers are write-only
        };
    }

    private void writeVirtioBar(int offset, int size, long value) {
        int region = offset & ~(REGION_SIZE - 1);
        int at = offset - region;
        if (at + size > REGION_SIZE) {
            return;
        }
        switch (region) {
            case COMMON_OFFSET -> common.write(at, size, value);
            case DEVICE_OFFSET -> writeDeviceConfig(at, size, value);
            case NOTIFY_OFFSET -> {
                // Without VIRTIO_F_NOTIFICATION_DATA the address says which queue; the value is not needed.
                if (at % NOTIFY_MULTIPLIER == 0) {
                    common.kick(at / NOTIFY_MULTIPLIER);
                }
            }
            default -> { } // the ISR is read-only
        }
    }

    /** Device configuration: 1, 2 and 4 bytes as the device defines them, 8 as two dwords; outside it, all ones. */
    private long readDeviceConfig(int at, int size) {
        if (at + size > device.configSize()) {
            return size == 8 ? -1L : (1L << (8 * size)) - 1;
        }
        return switch (size) {
            case 1 -> device.readConfig(at, 1) & 0xFFL;
            case 2 -> device.readConfig(at, 2) & 0xFFFFL;
            case 4 -> device.readConfig(at, 4) & 0xFFFF_FFFFL;
            case 8 -> (device.readConfig(at, 4) & 0xFFFF_FFFFL) | ((long) device.readConfig(at + 4, 4) << 32);
            default -> (1L << (8 * size)) - 1;
        };
    }

    private void writeDeviceConfig(int at, int size, long value) {
        if (at + size > device.configSize()) {
            return;
        }
        switch (size) {
            case 1, 2, 4 -> device.writeConfig(at, size, (int) value);
            case 8 -> {
                device.writeConfig(at, 4, (int) value);
                device.writeConfig(at + 4, 4, (int) (value >>> 32));
            }
            default -> { }
        }
    }

    /**
     * Function reset (system reset, or the machine resetting the slot): the virtio device is
     * reset, MSI-X is disabled with every vector masked and closed, and config space is back as
     * built: BARs unassigned, memory decoding off, the interrupt line and the PCI cfg window clear.
     * (Firmware, or the machine acting as firmware, assigns the BARs again.) A driver's status-0
     * reset only does the first part: the MSI-X and config state belong to the OS.
     */
    public void reset() {
        common.reset();
        msix.reset();
        space.restore(powerOnConfig);
        memoryDecoding = false;
        interrupts.setIntxDisabled(false);
    }
}
