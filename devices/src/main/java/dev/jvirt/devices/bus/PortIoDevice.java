package dev.jvirt.devices.bus;

/**
 * A device that answers x86 port I/O. Offsets are relative to the base port the device was
 * registered at, so a device never needs to know where the machine put it.
 *
 * <p>Values come straight from the guest: implementations must accept any offset inside their
 * registered range and any size of 1, 2 or 4 bytes without throwing.
 */
public interface PortIoDevice {

    /** Returns the value read; only the low {@code size} bytes are used. */
    int read(int offset, int size);

    /** Receives a guest write; only the low {@code size} bytes of {@code value} are meaningful. */
    void write(int offset, int size, int value);
}
