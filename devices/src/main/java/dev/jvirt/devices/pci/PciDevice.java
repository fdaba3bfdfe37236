package dev.jvirt.devices.pci;

import java.util.List;

/**
 * A PCI function as the configuration mechanism sees it: 256 bytes of config space. Offsets and
 * sizes come from the guest, already checked by the caller to lie inside those 256 bytes with a
 * size of 1, 2 or 4; implementations must still never throw.
 */
public interface PciDevice {

    /** Reads {@code size} (1, 2 or 4) bytes at {@code offset}, little-endian. */
    int readConfig(int offset, int size);

    void writeConfig(int offset, int size, int value);

    /** The BARs the device declares, so the machine can map what the guest programs into them. */
    default List<PciBar> bars() {
        return List.of();
    }

    /** Where BAR {@code index} currently sits in guest physical (or I/O) space, as programmed; 0 if unassigned. */
    default long barAddress(int index) {
        return 0;
    }

    /**
     * A guest access {@code offset} bytes into BAR {@code index} (the machine routes MMIO exits
     * here by the programmed BAR addresses). Sizes are 1, 2, 4 or 8; offsets lie inside the BAR.
     * Must never throw.
     */
    default long readBar(int index, long offset, int size) {
        return size == 8 ? -1L : (1L << (8 * size)) - 1;
    }

    default void writeBar(int index, long offset, int size, long value) {
    }
}
