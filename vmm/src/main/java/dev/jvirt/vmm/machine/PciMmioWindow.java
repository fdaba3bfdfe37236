package dev.jvirt.vmm.machine;

import dev.jvirt.devices.bus.MmioDevice;
import dev.jvirt.devices.pci.PciBar;
import dev.jvirt.devices.pci.PciBus;
import dev.jvirt.devices.pci.PciDevice;

/**
 * The host bridge's 32-bit memory window: an MMIO exit inside it goes to whichever device's
 * memory BAR the guest (or our firmware step) programmed over that address. BARs can move
 * whenever the guest rewrites them, so the lookup reads the current addresses each time;
 * the busy path (queue kicks) does not come here, it goes through ioeventfds.
 */
final class PciMmioWindow implements MmioDevice {

    private final PciBus bus;
    private final long base;

    PciMmioWindow(PciBus bus, long base) {
        this.bus = bus;
        this.base = base;
    }

    @Override
    public long read(long offset, int size) {
        long address = base + offset;
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            PciDevice device = bus.device(0, slot, 0);
            if (device == null) {
                continue;
            }
            for (PciBar bar : device.bars()) {
                long start = memoryBarStart(device, bar);
                if (start != 0 && address - start >= 0 && address - start + size <= bar.size()) {
                    return device.readBar(bar.index(), address - start, size);
                }
            }
        }
        return size == 8 ? -1L : (1L << (8 * size)) - 1;
    }

    @Override
    public void write(long offset, int size, long value) {
        long address = base + offset;
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            PciDevice device = bus.device(0, slot, 0);
            if (device == null) {
                continue;
            }
            for (PciBar bar : device.bars()) {
                long start = memoryBarStart(device, bar);
                if (start != 0 && address - start >= 0 && address - start + size <= bar.size()) {
                    device.writeBar(bar.index(), address - start, size, value);
                    return;
                }
            }
        }
    }

    private static long memoryBarStart(PciDevice device, PciBar bar) {
        return bar.kind() == PciBar.Kind.IO ? 0 : device.barAddress(bar.index());
    }
}
