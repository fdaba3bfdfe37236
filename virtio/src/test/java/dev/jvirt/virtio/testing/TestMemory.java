package dev.jvirt.virtio.testing;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.memory.MemoryBackend;

/** Guest RAM for device tests: anonymous memory, no VM needed. */
public final class TestMemory {

    public static GuestMemory allocate(long bytes) {
        try {
            return GuestMemory.allocate(bytes, MemoryBackend.anonymous());
        } catch (Exception e) {
            throw new IllegalStateException("cannot allocate " + bytes + " bytes of test guest RAM", e);
        }
    }

    private TestMemory() {
    }
}
