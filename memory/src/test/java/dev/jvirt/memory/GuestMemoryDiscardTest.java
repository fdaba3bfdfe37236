package dev.jvirt.memory;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** A discarded (ballooned) page reads back as zero and its neighbours keep their contents. */
class GuestMemoryDiscardTest {

    private static final int PAGE = 4096;

    @Test
    void discardedAnonymousPageReadsZeroAndNeighboursSurvive() throws Exception {
        try (GuestMemory memory = GuestMemory.allocate(1 << 20, MemoryBackend.anonymous())) {
            assertPatternDiscarded(memory);
        }
    }

    @Test
    void discardedPageOfASharedFileMappingReadsZero() throws Exception {
        // MADV_DONTNEED alone would re-read the pattern from the file: the hole must be punched.
        Path shm = Path.of("/dev/shm");
        assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm), "needs a writable tmpfs at /dev/shm");
        try (GuestMemory memory = GuestMemory.allocate(1 << 20, new MemoryBackend(shm, false))) {
            assertPatternDiscarded(memory);
        }
    }

    private static void assertPatternDiscarded(GuestMemory memory) throws Exception {
        memory.fill(0x10000, 3 * PAGE, (byte) 0xA5);
        memory.discard(0x11000, PAGE);
        assertArrayEquals(new byte[PAGE], memory.read(0x11000, PAGE), "discarded page is zero");
        assertEquals((byte) 0xA5, (byte) memory.readU8(0x10FFF), "page before untouched");
        assertEquals((byte) 0xA5, (byte) memory.readU8(0x12000), "page after untouched");
        memory.writeInt(0x11000, 0x12345678);
        assertEquals(0x12345678, memory.readInt(0x11000), "the page is usable again after the discard");
    }

    @Test
    void discardOutsideRamOrUnalignedIsRefused() throws Exception {
        try (GuestMemory memory = GuestMemory.allocate(1 << 20, MemoryBackend.anonymous())) {
            assertThrows(GuestMemoryException.class, () -> memory.discard(1 << 20, PAGE));
            assertThrows(GuestMemoryException.class, () -> memory.discard((1 << 20) - PAGE, 2 * PAGE));
            assertThrows(IllegalArgumentException.class, () -> memory.discard(0x800, PAGE));
            assertThrows(IllegalArgumentException.class, () -> memory.discard(0x1000, 100));
        }
    }
}
