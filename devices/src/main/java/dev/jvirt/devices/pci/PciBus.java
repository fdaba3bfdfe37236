package dev.jvirt.devices.pci;

/** Bus 0: 32 device slots, function 0 each. Slots can be filled and emptied while the guest runs. */
public final class PciBus {

    public static final int SLOTS = 32;

    private final PciDevice[] slots = new PciDevice[SLOTS];

    public synchronized void attach(int slot, PciDevice device) {
        checkSlot(slot);
        if (slots[slot] != null) {
            throw new IllegalStateException("PCI slot " + slot + " is already in use");
        }
        slots[slot] = device;
    }

    public synchronized void detach(int slot) {
        checkSlot(slot);
        slots[slot] = null;
    }

    /** The first empty slot, or -1. */
    public synchronized int freeSlot() {
        for (int slot = 1; slot < SLOTS; slot++) {
            if (slots[slot] == null) {
                return slot;
            }
        }
        return -1;
    }

    public synchronized PciDevice device(int bus, int slot, int function) {
        if (bus != 0 || function != 0 || slot < 0 || slot >= SLOTS) {
            return null;
        }
        return slots[slot];
    }

    private static void checkSlot(int slot) {
        if (slot < 0 || slot >= SLOTS) {
            throw new IllegalArgumentException("PCI slot " + slot + " does not exist (0-31)");
        }
    }
}
