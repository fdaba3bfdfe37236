package dev.jvirt.devices.bus;

import java.util.Map;
import java.util.TreeMap;

/**
 * Routes port I/O exits to the device registered for the port. Ports nobody claims read as
 * all ones and swallow writes, as on a PC with nothing behind the address.
 *
 * <p>Registration happens while the machine is built, before any vCPU runs; lookups afterwards
 * only read the map, so the vCPU threads need no lock here (devices lock themselves).
 */
public final class PortIoBus {

    private record Range(int base, int length, PortIoDevice device) { }

    private final TreeMap<Integer, Range> ranges = new TreeMap<>();

    public void register(int base, int length, PortIoDevice device) {
        if (base < 0 || length <= 0 || base + length > 0x10000) {
            throw new IllegalArgumentException("port range 0x%x+%d is outside the 64 KiB I/O space".formatted(base, length));
        }
        Map.Entry<Integer, Range> below = ranges.floorEntry(base + length - 1);
        if (below != null && below.getValue().base + below.getValue().length > base) {
            throw new IllegalArgumentException("port range 0x%x+%d overlaps 0x%x+%d"
                    .formatted(base, length, below.getValue().base, below.getValue().length));
        }
        ranges.put(base, new Range(base, length, device));
    }

    /** Returns the value the guest reads, {@code size} bytes wide. */
    public int read(int port, int size) {
        Range range = find(port);
        if (range == null) {
            return size == 4 ? -1 : (1 << (8 * size)) - 1;
        }
        return range.device.read(port - range.base, size);
    }

    /** Returns whether a device took the write. */
    public boolean write(int port, int size, int value) {
        Range range = find(port);
        if (range == null) {
            return false;
        }
        range.device.write(port - range.base, size, value);
        return true;
    }

    private Range find(int port) {
        Map.Entry<Integer, Range> entry = ranges.floorEntry(port);
        if (entry == null) {
            return null;
        }
        Range range = entry.getValue();
        return port < range.base + range.length ? range : null;
    }
}
