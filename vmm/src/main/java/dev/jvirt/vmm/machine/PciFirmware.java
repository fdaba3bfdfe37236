package dev.jvirt.vmm.machine;

import dev.jvirt.devices.pci.PciBar;
import dev.jvirt.devices.pci.PciConfigSpace;
import dev.jvirt.devices.pci.PciDevice;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What a BIOS does for PCI before the kernel runs: gives every memory BAR a naturally aligned
 * address in the host bridge's window and turns on memory decoding. Linux keeps assignments
 * that fit the window (as it does on real firmware), so BARs sit where we put them.
 */
final class PciFirmware {

    private final long windowEnd;
    private long next;

    PciFirmware(long windowStart, long windowEnd) {
        this.next = windowStart;
        this.windowEnd = windowEnd;
    }

    /** Assigns {@code device}'s memory BARs, largest first so alignment wastes the least. */
    void assign(PciDevice device) {
        List<PciBar> bars = new ArrayList<>(device.bars());
        bars.sort(Comparator.comparingLong(PciBar::size).reversed());
        for (PciBar bar : bars) {
            if (bar.kind() == PciBar.Kind.IO) {
                continue;
            }
            long address = (next + bar.size() - 1) & -bar.size();
            if (address + bar.size() - 1 > windowEnd) {
                throw new IllegalStateException("PCI memory window is full: no room for a " + bar.size() + "-byte BAR");
            }
            next = address + bar.size();
            int register = PciConfigSpace.BAR0 + 4 * bar.index();
            device.writeConfig(register, 4, (int) address);
            if (bar.kind() == PciBar.Kind.MEMORY64) {
                device.writeConfig(register + 4, 4, (int) (address >>> 32));
            }
        }
        int command = device.readConfig(PciConfigSpace.COMMAND, 2);
        device.writeConfig(PciConfigSpace.COMMAND, 2, command | PciConfigSpace.COMMAND_MEMORY);
    }
}
