package dev.jvirt.devices.pci;

/**
 * A base address register a device declares: what the guest's BAR sizing finds, and what the
 * machine needs to route accesses once the guest has programmed an address.
 *
 * @param index        0-5; a 64-bit BAR also occupies {@code index + 1}
 * @param size         bytes, a power of two (at least 16 for memory, 4 for I/O)
 * @param prefetchable memory BARs only
 */
public record PciBar(int index, Kind kind, long size, boolean prefetchable) {

    public enum Kind { IO, MEMORY32, MEMORY64 }

    public PciBar {
        long minimum = kind == Kind.IO ? 4 : 16;
        long maximum = switch (kind) {
            case IO -> 1L << 16;
            case MEMORY32 -> 1L << 31;
            case MEMORY64 -> 1L << 62;
        };
        if (Long.bitCount(size) != 1 || size < minimum || size > maximum) {
            throw new IllegalArgumentException("BAR %d: %s size must be a power of two from %d to %d, not %d"
                    .formatted(index, kind, minimum, maximum, size));
        }
        if (index < 0 || index > (kind == Kind.MEMORY64 ? 4 : 5)) {
            throw new IllegalArgumentException("BAR index " + index + " does not exist for a " + kind + " BAR");
        }
        if (prefetchable && kind == Kind.IO) {
            throw new IllegalArgumentException("an I/O BAR cannot be prefetchable");
        }
    }
}
