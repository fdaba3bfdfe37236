package dev.jvirt.devices.bus;

/**
 * A device that answers memory-mapped I/O exits. Offsets are relative to the region base.
 * Sizes are 1, 2, 4 or 8 bytes; implementations must not throw on any guest-chosen value.
 */
public interface MmioDevice {

    long read(long offset, int size);

    void write(long offset, int size, long value);
}
