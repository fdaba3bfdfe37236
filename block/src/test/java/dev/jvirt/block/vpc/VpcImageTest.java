package dev.jvirt.block.vpc;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** VHD files built from the specification read back as written; malformed ones are refused, untouched. */
class VpcImageTest {

    private static final int BLOCK = 64 << 10;
    private static final long SIZE = 5 * BLOCK + 3 * 512;

    @TempDir
    Path dir;

    private static byte[] disk() {
        byte[] disk = new byte[(int) SIZE];
        Random random = new Random(7);
        for (int at : new int[] {100, BLOCK + 4096, 3 * BLOCK + 511}) {
            for (int i = 0; i < 3000; i++) {
                disk[at + i] = (byte) (1 + random.nextInt(255));
            }
        }
        Arrays.fill(disk, disk.length - 512, disk.length, (byte) 0x5a); // the last sector written
        return disk;
    }

    private Path write(byte[] bytes) throws IOException {
        Path file = dir.resolve("t-" + System.nanoTime() + ".vhd");
        Files.write(file, bytes);
        return file;
    }

    private static byte[] readAll(BlockDriver image) throws IOException {
        byte[] all = new byte[(int) image.size()];
        image.read(0, all, 0, all.length);
        return all;
    }

    @Test
    void fixedDiskIsItsDataBeforeTheFooter() throws IOException {
        byte[] disk = disk();
        try (VpcImage image = VpcImage.open(write(VhdFiles.fixed(disk, VhdFiles.Footer.hyperV(SIZE, VpcFooter.FIXED))), CacheMode.WRITEBACK)) {
            assertTrue(image.isFixed());
            assertEquals(SIZE, image.size());
            assertEquals("vpc", image.format());
            assertArrayEquals(disk, readAll(image));
            BlockStatus all = image.blockStatus(0, SIZE);
            assertEquals(SIZE, all.length());
            assertTrue(all.data());
        }
    }

    @Test
    void dynamicDiskLeavesUnwrittenBlocksAndSectorsAsHoles() throws IOException {
        byte[] disk = disk();
        Path file = write(VhdFiles.dynamic(disk, VhdFiles.Footer.hyperV(SIZE, VpcFooter.DYNAMIC), BLOCK, true));
        try (VpcImage image = VpcImage.open(file, CacheMode.WRITEBACK)) {
            assertFalse(image.isFixed());
            assertEquals(BLOCK, image.clusterSize());
            assertArrayEquals(disk, readAll(image));
            BlockStatus head = image.blockStatus(0, SIZE);
            assertTrue(head.data(), "sector 0 holds data");
            assertEquals(7 * 512, head.length(), "the run ends where the bitmap's set bits end");
            BlockStatus afterData = image.blockStatus(head.length(), SIZE);
            assertFalse(afterData.data());
            assertTrue(afterData.zero());
            BlockStatus unallocatedBlock = image.blockStatus(2 * BLOCK, SIZE);
            assertFalse(unallocatedBlock.allocated());
            assertEquals(BLOCK, unallocatedBlock.length(), "one unallocated block");
            BlockStatus last = image.blockStatus(SIZE - 512, 512);
            assertTrue(last.data());
        }
    }

    @Test
    void sectorsWithAClearBitmapBitReadAsZeroes() throws IOException {
        byte[] disk = disk();
        byte[] file = VhdFiles.dynamic(disk, VhdFiles.Footer.hyperV(SIZE, VpcFooter.DYNAMIC), BLOCK, true);
        // Garbage in block 0's sector 20, whose bitmap bit is clear: the specification says it was never written.
        int block0 = ByteBuffer.wrap(file).getInt(1536) * 512;
        int bitmapSize = 512;
        Arrays.fill(file, block0 + bitmapSize + 20 * 512, block0 + bitmapSize + 21 * 512, (byte) 0x77);
        try (VpcImage image = VpcImage.open(write(file), CacheMode.WRITEBACK)) {
            assertArrayEquals(disk, readAll(image));
        }
    }

    @Test
    void virtualSizeFollowsQemusCreatorRule() throws IOException {
        long chs = 4L * 4 * 17 * 512;
        byte[] disk = new byte[(int) SIZE];
        // QEMU's own images ("qemu") and Virtual PC's ("vpc ") are sized by their geometry.
        var qemu = new VhdFiles.Footer("qemu", SIZE, 4, 4, 17, VpcFooter.FIXED);
        assertEquals(chs, sizeOf(VhdFiles.fixed(disk, qemu)));
        var vpc = new VhdFiles.Footer("vpc ", SIZE, 4, 4, 17, VpcFooter.FIXED);
        assertEquals(chs, sizeOf(VhdFiles.fixed(disk, vpc)));
        // Every other creator, including ones QEMU 7.2 did not know (Azure's "wa\0\0"), by current_size.
        for (String creator : new String[] {"win ", "qem2", "d2v ", "tap\0", "CTXS", "wa\0\0"}) {
            var other = new VhdFiles.Footer(creator, SIZE, 4, 4, 17, VpcFooter.FIXED);
            assertEquals(SIZE, sizeOf(VhdFiles.fixed(disk, other)), creator);
        }
        // The maximal geometry cannot describe larger disks: current_size then, whoever wrote it.
        var huge = new VhdFiles.Footer("qemu", SIZE, 65535, 16, 255, VpcFooter.FIXED);
        assertEquals(SIZE, sizeOf(VhdFiles.fixed(disk, huge)));
    }

    private long sizeOf(byte[] file) throws IOException {
        try (VpcImage image = VpcImage.open(write(file), CacheMode.WRITEBACK)) {
            return image.size();
        }
    }

    private String refusal(byte[] file) throws IOException {
        Path path = write(file);
        ImageException e = assertThrows(ImageException.class, () -> {
            try (VpcImage image = VpcImage.open(path, CacheMode.WRITEBACK)) {
                readAll(image);
            }
        });
        assertArrayEquals(file, Files.readAllBytes(path), "a refused image is not modified");
        assertTrue(e.getMessage().startsWith(path.toString()), e.getMessage());
        return e.getMessage();
    }

    private static byte[] withDynamicHeaderField(byte[] file, int field, int value) {
        byte[] copy = file.clone();
        ByteBuffer b = ByteBuffer.wrap(copy);
        b.putInt(512 + field, value);
        b.putInt(512 + 36, 0);
        b.putInt(512 + 36, (int) VpcFooter.checksum(Arrays.copyOfRange(copy, 512, 1536), 36));
        return copy;
    }

    @Test
    void hostileImagesAreRefusedWithTheReason() throws IOException {
        byte[] dynamic = VhdFiles.dynamic(disk(), VhdFiles.Footer.hyperV(SIZE, VpcFooter.DYNAMIC), BLOCK, true);
        byte[] fixed = VhdFiles.fixed(disk(), VhdFiles.Footer.hyperV(SIZE, VpcFooter.FIXED));

        byte[] badChecksum = dynamic.clone();
        badChecksum[40] ^= 1;
        assertTrue(refusal(badChecksum).contains("incorrect VHD footer checksum"));
        byte[] badFixedChecksum = fixed.clone();
        badFixedChecksum[fixed.length - 512 + 50] ^= 1;
        assertTrue(refusal(badFixedChecksum).contains("incorrect VHD footer checksum"));
        byte[] badHeaderChecksum = dynamic.clone();
        badHeaderChecksum[512 + 30] ^= 1;
        assertTrue(refusal(badHeaderChecksum).contains("incorrect dynamic VHD header checksum"));

        assertTrue(refusal(withDynamicHeaderField(dynamic, 32, 3 * 512)).contains("invalid VHD block size 1536"));
        assertTrue(refusal(withDynamicHeaderField(dynamic, 32, 1 << 30)).contains("invalid VHD block size"));
        assertTrue(refusal(withDynamicHeaderField(dynamic, 28, 2)).contains("a " + SIZE + "-byte disk needs 6"));
        assertTrue(refusal(withDynamicHeaderField(dynamic, 28, -1)).contains("block allocation table"));
        assertTrue(refusal(withDynamicHeaderField(dynamic, 20, 0x7fff_0000)).contains("VHD block allocation table at offset"));

        byte[] batPastEnd = dynamic.clone();
        ByteBuffer.wrap(batPastEnd).putInt(1536, 0x0fff_ffff);
        assertTrue(refusal(batPastEnd).contains("VHD block 0 at offset 0x1ffffffe00"), refusal(batPastEnd));

        byte[] truncated = Arrays.copyOf(dynamic, dynamic.length - BLOCK);
        assertTrue(refusal(truncated).contains("is the image truncated?"));
        byte[] truncatedFixed = Arrays.copyOfRange(fixed, 4096, fixed.length);
        assertTrue(refusal(truncatedFixed).contains("holds only"));
        assertTrue(refusal(new byte[100]).contains("file too small for a VHD footer"));
        assertTrue(refusal(new byte[4096]).contains("no \"conectix\" footer"));

        var absurd = new VhdFiles.Footer("win ", 1L << 62, 10, 16, 63, VpcFooter.FIXED);
        assertTrue(refusal(VhdFiles.fixed(new byte[4096], absurd)).contains("exceeds the format's maximum"));
        var negative = new VhdFiles.Footer("win ", -4096, 10, 16, 63, VpcFooter.FIXED);
        assertTrue(refusal(VhdFiles.fixed(new byte[4096], negative)).contains("absurd"));
        var differencing = VhdFiles.Footer.hyperV(SIZE, VpcFooter.DIFFERENCING);
        assertTrue(refusal(VhdFiles.dynamic(disk(), differencing, BLOCK, true)).contains("differencing VHD images"));
        var wrongType = VhdFiles.Footer.hyperV(SIZE, VpcFooter.FIXED);
        assertTrue(refusal(VhdFiles.dynamic(disk(), wrongType, BLOCK, true)).contains("does not match its layout"));

        byte[] headerPastEnd = dynamic.clone();
        ByteBuffer.wrap(headerPastEnd).putLong(16, 1L << 50);
        ByteBuffer.wrap(headerPastEnd).putInt(64, 0);
        ByteBuffer.wrap(headerPastEnd).putInt(64, (int) VpcFooter.checksum(Arrays.copyOf(headerPastEnd, 512), 64));
        assertTrue(refusal(headerPastEnd).contains("dynamic VHD header at offset 0x4000000000000"));
    }

    /** Seeded corruption of the dynamic header, BAT and bitmaps (checksums made right again): a clean read or an ImageException. */
    @Test
    void mutatedImagesNeverCrashOrHang() {
        byte[] original = VhdFiles.dynamic(disk(), VhdFiles.Footer.hyperV(SIZE, VpcFooter.DYNAMIC), BLOCK, true);
        Random random = new Random(55);
        int[] outcomes = new int[2];
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> {
            for (int round = 0; round < 200; round++) {
                byte[] mutant = original.clone();
                for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                    int at = random.nextBoolean() ? 512 + 16 + random.nextInt(24) : 1536 + random.nextInt(4096);
                    mutant[at] = (byte) (random.nextBoolean() ? random.nextInt() : mutant[at] ^ (1 << random.nextInt(8)));
                }
                ByteBuffer.wrap(mutant).putInt(512 + 36, 0);
                ByteBuffer.wrap(mutant).putInt(512 + 36, (int) VpcFooter.checksum(Arrays.copyOfRange(mutant, 512, 1536), 36));
                Path file = write(mutant);
                try (VpcImage image = VpcImage.open(file, CacheMode.WRITEBACK)) {
                    byte[] buffer = new byte[100_000];
                    for (long at = 0; at < image.size(); at += buffer.length) {
                        int n = (int) Math.min(buffer.length, image.size() - at);
                        image.blockStatus(at, n);
                        image.read(at, buffer, 0, n);
                    }
                    outcomes[0]++;
                } catch (ImageException refused) {
                    outcomes[1]++;
                }
                assertArrayEquals(mutant, Files.readAllBytes(file), "reading never writes");
                Files.delete(file);
            }
        });
        assertTrue(outcomes[0] > 20 && outcomes[1] > 20, "both paths exercised: " + outcomes[0] + " read, " + outcomes[1] + " refused");
    }
}
