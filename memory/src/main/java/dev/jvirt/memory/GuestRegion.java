package dev.jvirt.memory;

import java.lang.foreign.MemorySegment;

/** A contiguous run of guest RAM: its guest-physical base and the host memory behind it. */
public record GuestRegion(long guestBase, MemorySegment host) {

    public long size() {
        return host.byteSize();
    }

    public long guestEnd() {
        return guestBase + host.byteSize();
    }

    public boolean contains(long guestAddress, long length) {
        return guestAddress >= guestBase && length >= 0 && guestAddress - guestBase <= size() - length;
    }
}
