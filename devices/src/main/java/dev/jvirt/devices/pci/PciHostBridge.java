package dev.jvirt.devices.pci;

import dev.jvirt.devices.bus.PortIoDevice;

/**
 * PCI configuration mechanism #1 on ports 0xCF8 (CONFIG_ADDRESS) and 0xCFC-0xCFF (CONFIG_DATA),
 * and the host bridge itself at 00:00.0. Absent functions read as all ones, which is how the
 * guest knows a slot is empty.
 */
public final class PciHostBridge implements PortIoDevice {

    public static final int BASE = 0xCF8;
    public static final int PORT_COUNT = 8;

    private static final int ENABLE = 0x8000_0000;

    private final PciBus bus;
    private int address;

    public PciHostBridge(PciBus bus) {
        this.bus = bus;
        // An Intel 440FX-compatible host bridge, the one every x86 guest knows (class 06.00).
        PciConfigSpace config = new PciConfigSpace(0x8086, 0x1237, 0x06, 0x00, 0x00, 0x02);
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
    public synchronized int read(int offset, int size) {
        if (offset < 4) {
            return offset == 0 && size == 4 ? address : -1;
        }
        PciDevice device = selected();
        int register = (address & 0xFC) + (offset - 4);
        if (device == null || register + size > 256) {
            return -1;
        }
        return device.readConfig(register, size);
    }

    @Override
    public synchronized void write(int offset, int size, int value) {
        if (offset < 4) {
            if (offset == 0 && size == 4) {
                address = value;
            }
            return;
        }
        PciDevice device = selected();
        int register = (address & 0xFC) + (offset - 4);
        if (device != null && register + size <= 256) {
            device.writeConfig(register, size, value);
        }
    }

    private PciDevice selected() {
        if ((address & ENABLE) == 0) {
            return null;
        }
        return bus.device((address >> 16) & 0xFF, (address >> 11) & 0x1F, (address >> 8) & 0x7);
    }
}
