package dev.jvirt.devices.pci;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Bus 0: 32 device slots, function 0 each. Slots can be filled and emptied while the guest runs
 * (hot-plug); lookups from vCPU threads take no lock.
 */
public final class PciBus {

    public static final int SLOTS = 32;

    private final AtomicReferenceArray<PciDevice> slots = new AtomicReferenceArray<>(SLOTS);

    /** Plugs {@code device} into {@code slot}; the slot must be empty. */
    public void attach(int slot, PciDevice device) {
        checkSlot(slot);
        Objects.requireNonNull(device, "device");
        if (!slots.compareAndSet(slot, null, device)) {
            throw new IllegalStateException("PCI slot " + slot + " is already in use");
        }
    }

    /** Empties {@code slot}; returns the device that was there, or null. */
    public PciDevice detach(int slot) {
        checkSlot(slot);
        return slots.getAndSet(slot, null);
    }

    /** The first empty slot after the host bridge's, or -1. */
    public int freeSlot() {
        for (int slot = 1; slot < SLOTS; slot++) {
            if (slots.get(slot) == null) {
                return slot;
            }
        }
        return -1;
    }

    /** The device at bus:slot.function, or null; any guest-chosen numbers are accepted. */
    public PciDevice device(int bus, int slot, int function) {
        if (bus != 0 || function != 0 || slot < 0 || slot >= SLOTS) {
            return null;
        }
        return slots.get(slot);
    }

    private static void checkSlot(int slot) {
        if (slot < 0 || slot >= SLOTS) {
            throw new IllegalArgumentException("PCI slot " + slot + " does not exist (0-31)");
        }
    }
}
