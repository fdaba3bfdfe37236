package dev.jvirt.memory;

/** A guest-physical access that falls outside guest RAM. Device code treats it as a guest error. */
public final class GuestMemoryException extends RuntimeException {

    public GuestMemoryException(long address, long length) {
        super("guest address range 0x%x+0x%x is not RAM".formatted(address, length));
    }
}
