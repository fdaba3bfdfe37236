package dev.jvirt.memory;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GuestMemoryTest {

    @Test
    void smallGuestIsOneRegionAndReadsBackWhatWasWritten() throws Exception {
        try (GuestMemory memory = GuestMemory.allocate(64 << 20, MemoryBackend.anonymous())) {
            assertEquals(1, memory.regions().size());
            memory.writeLong(0x1000, 0x1122334455667788L);
            memory.write(0x2001, new byte[] {1, 2, 3});
            assertEquals(0x1122334455667788L, memory.readLong(0x1000));
            assertEquals(0x55667788, memory.readInt(0x1000));
            assertArrayEquals(new byte[] {1, 2, 3}, memory.read(0x2001, 3));
            assertEquals(0, memory.readInt(0x3000), "fresh RAM is zero");
        }
    }

    @Test
    void largeGuestSkipsTheMmioHole() throws Exception {
        long size = GuestMemory.MMIO_HOLE_START + (256L << 20);
        try (GuestMemory memory = GuestMemory.allocate(size, MemoryBackend.anonymous())) {
            assertEquals(2, memory.regions().size());
            assertEquals(GuestMemory.MMIO_HOLE_START, memory.lowRamEnd());
            assertFalse(memory.isRam(0xFEE0_0000L, 4), "LAPIC page is not RAM");
            assertTrue(memory.isRam(GuestMemory.FOUR_GIB + (256L << 20) - 8, 8));
            memory.writeLong(GuestMemory.FOUR_GIB, 42);
            assertEquals(42, memory.readLong(GuestMemory.FOUR_GIB));
        }
    }

    @Test
    void accessesOutsideRamAreRefused() throws Exception {
        try (GuestMemory memory = GuestMemory.allocate(1 << 20, MemoryBackend.anonymous())) {
            assertThrows(GuestMemoryException.class, () -> memory.readLong((1 << 20) - 4), "straddles the end");
            assertThrows(GuestMemoryException.class, () -> memory.readInt(-4L));
            assertThrows(GuestMemoryException.class, () -> memory.slice(Long.MAX_VALUE - 2, 16), "overflowing range");
            assertThrows(GuestMemoryException.class, () -> memory.slice(0, -1));
        }
    }

    @Test
    void memPathBackingLeavesNoFileBehind(@TempDir Path dir) throws Exception {
        try (GuestMemory memory = GuestMemory.allocate(8 << 20, new MemoryBackend(dir, true))) {
            memory.writeInt(0x100, 7);
            assertEquals(7, memory.readInt(0x100));
            try (var files = Files.list(dir)) {
                assertEquals(0, files.count(), "the backing file is unlinked once mapped");
            }
        }
    }

    @Test
    void memPathThatIsNotADirectoryIsNamed(@TempDir Path dir) {
        Path missing = dir.resolve("nope");
        var e = assertThrows(java.io.IOException.class, () -> GuestMemory.allocate(1 << 20, new MemoryBackend(missing, false)));
        assertEquals("-mem-path " + missing + ": not a directory", e.getMessage());
    }

    @Test
    void anonymousRamStartsOnAHugePageBoundaryAndAsksForHugePages() throws Exception {
        try (GuestMemory memory = GuestMemory.allocate(6 << 20, MemoryBackend.anonymous())) {
            long host = memory.regions().getFirst().host().address();
            assertEquals(0, host % MemoryBackend.HUGE_PAGE, "host address " + Long.toHexString(host));
            String smaps = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/smaps"));
            java.util.regex.Matcher vma = java.util.regex.Pattern.compile("(?m)^" + Long.toHexString(host) + "-(\\p{XDigit}+) .*$((?:\\n[A-Z][^\\n]*)*)").matcher(smaps);
            assertTrue(vma.find(), "guest RAM mapping in /proc/self/smaps");
            assertEquals(host + (6 << 20), Long.parseUnsignedLong(vma.group(1), 16), "no slack left mapped after the RAM");
            assertTrue(vma.group(2).matches("(?s).*VmFlags:[^\\n]* hg.*"), "MADV_HUGEPAGE (hg) set: " + vma.group(2));
        }
    }
}
