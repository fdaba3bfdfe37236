package dev.jvirt.devices.bus;

import java.util.Map;
import java.util.TreeMap;

/**
 * Routes MMIO exits (guest accesses to physical addresses that are not RAM) to devices.
 * Unclaimed addresses read as all ones and ignore writes.
 */
public final class MmioBus {

    private record Range(long base, long length, MmioDevice device) { }

    private final TreeMap<Long, Range> ranges = new TreeMap<>();

    public void register(long base, long length, MmioDevice device) {
        if (length <= 0 || base + length < base) {
            throw new IllegalArgumentException("bad MMIO range 0x%x+0x%x".formatted(base, length));
        }
        Map.Entry<Long, Range> below = ranges.floorEntry(base + length - 1);
        if (below != null && below.getValue().base + below.getValue().length > base) {
            throw new IllegalArgumentException("MMIO range 0x%x+0x%x overlaps 0x%x".formatted(base, length, below.getKey()));
        }
        ranges.put(base, new Range(base, length, device));
    }

    public void unregister(long base) {
        ranges.remove(base);
    }

    public long read(long address, int size) {
        Range range = find(address);
        if (range == null) {
            return size == 8 ? -1L : (1L << (8 * size)) - 1;
        }
        return range.device.read(address - range.base, size);
    }

    public boolean write(long address, int size, long value) {
        Range range = find(address);
        if (range == null) {
            return false;
        }
        range.device.write(address - range.base, size, value);
        return true;
    }

    private Range find(long address) {
        Map.Entry<Long, Range> entry = ranges.floorEntry(address);
        if (entry == null) {
            return null;
        }
        Range range = entry.getValue();
        return address - range.base < range.length ? range : null;
    }
}
