package dev.jvirt.block.vdi;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** VDI files built from the layout read back as written; malformed ones are refused, untouched. */
class VdiImageTest {

    private static final int SIZE = 4 * VdiFiles.BLOCK + 3 * 512;

    @TempDir
    Path dir;

    private static byte[] disk() {
        byte[] disk = new byte[SIZE];
        Random random = new Random(3);
        for (int at : new int[] {7, 2 * VdiFiles.BLOCK + 12345}) {
            for (int i = 0; i < 70_000; i++) {
                disk[at + i] = (byte) random.nextInt();
            }
        }
        Arrays.fill(disk, SIZE - 512, SIZE, (byte) 0xa5);
        return disk;
    }

    private Path write(byte[] bytes) throws IOException {
        Path file = dir.resolve("t-" + System.nanoTime() + ".vdi");
        Files.write(file, bytes);
        return file;
    }

    private static byte[] readAll(BlockDriver image) throws IOException {
        byte[] all = new byte[(int) image.size()];
        image.read(0, all, 0, all.length);
        return all;
    }

    @ParameterizedTest(name = "dynamic={0}")
    @ValueSource(booleans = {false, true})
    void readsBackWhatWasStored(boolean dynamic) throws IOException {
        byte[] disk = disk();
        try (VdiImage image = VdiImage.open(write(VdiFiles.build(disk, dynamic)), CacheMode.WRITEBACK)) {
            assertEquals(SIZE, image.size());
            assertEquals(!dynamic, image.isStatic());
            assertEquals(VdiFiles.BLOCK, image.clusterSize());
            assertArrayEquals(disk, readAll(image));
            BlockStatus second = image.blockStatus(VdiFiles.BLOCK, SIZE);
            assertEquals(!dynamic, second.data(), "block 1 holds no data: unallocated in the dynamic image");
            // Unallocated blocks read as zeroes and are "present" zero runs, as qemu-img map shows them.
            assertTrue(second.allocated());
        }
    }

    @Test
    void discardedBlocksReadAsZeroes() throws IOException {
        byte[] file = VdiFiles.build(disk(), true);
        ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).putInt(512, VdiFiles.DISCARDED);
        try (VdiImage image = VdiImage.open(write(file), CacheMode.WRITEBACK)) {
            byte[] expected = disk();
            Arrays.fill(expected, 0, VdiFiles.BLOCK, (byte) 0);
            assertArrayEquals(expected, readAll(image));
            BlockStatus first = image.blockStatus(0, SIZE);
            assertFalse(first.data());
            assertEquals(2L * VdiFiles.BLOCK, first.length(), "the discarded block joins the unallocated one after it");
        }
    }

    private String refusal(byte[] file) throws IOException {
        Path path = write(file);
        ImageException e = assertThrows(ImageException.class, () -> {
            try (VdiImage image = VdiImage.open(path, CacheMode.WRITEBACK)) {
                readAll(image);
            }
        });
        assertArrayEquals(file, Files.readAllBytes(path), "a refused image is not modified");
        assertTrue(e.getMessage().startsWith(path.toString()), e.getMessage());
        return e.getMessage();
    }

    private static byte[] patched(byte[] file, int offset, long value, int width) {
        byte[] copy = file.clone();
        ByteBuffer b = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);
        if (width == 8) {
            b.putLong(offset, value);
        } else {
            b.putInt(offset, (int) value);
        }
        return copy;
    }

    @Test
    void hostileImagesAreRefusedWithTheReason() throws IOException {
        byte[] valid = VdiFiles.build(disk(), true);
        assertTrue(refusal(patched(valid, 0x40, 0x12345678, 4)).contains("bad signature 12345678"));
        assertTrue(refusal(patched(valid, 0x44, 0x00010000, 4)).contains("unsupported VDI image (version 1.0)"));
        assertTrue(refusal(patched(valid, 0x4c, 4, 4)).contains("unsupported VDI image type 4"));
        assertTrue(refusal(patched(valid, 0x154, 0x7fff_fe00L, 4)).contains("VDI block map at offset 0x7ffffe00"));
        assertTrue(refusal(patched(valid, 0x154, 0x10, 4)).contains("unaligned block map offset 0x10"));
        assertTrue(refusal(patched(valid, 0x154, 0, 4)).contains("overlaps the header"));
        assertTrue(refusal(patched(valid, 0x158, 513, 4)).contains("unaligned data offset 0x201"));
        assertTrue(refusal(patched(valid, 0x158, 512, 4)).contains("overlaps the block map"));
        assertTrue(refusal(patched(valid, 0x168, 4096, 4)).contains("sector size 4096 is not 512"));
        assertTrue(refusal(patched(valid, 0x178, 3 << 19, 4)).contains("unsupported VDI block size 1572864"));
        assertTrue(refusal(patched(valid, 0x178, 0, 4)).contains("unsupported VDI block size 0"));
        assertTrue(refusal(patched(valid, 0x17c, 512, 4)).contains("extra data per block"));
        assertTrue(refusal(patched(valid, 0x170, Long.MAX_VALUE, 8)).contains("image bitmap has room for"));
        assertTrue(refusal(patched(valid, 0x170, -1, 8)).contains("disk size 18446744073709551615"));
        assertTrue(refusal(patched(valid, 0x180, -1, 4)).contains("too many blocks"));
        assertTrue(refusal(patched(valid, 0x1b8, 1, 8)).contains("non-NULL parent UUID"));
        assertTrue(refusal(patched(valid, 0x1a8, 1, 8)).contains("non-NULL link UUID"));
        assertTrue(refusal(patched(valid, 512, 1000, 4)).contains("VDI block 0 maps to offset"));
        assertTrue(refusal(Arrays.copyOf(valid, valid.length - 4096)).contains("is the image truncated?"));
        assertTrue(refusal(Arrays.copyOf(valid, 300)).contains("file too small for a VDI header"));
    }

    @Test
    void checkFindsWhatQemuImgCheckFinds() throws IOException {
        byte[] valid = VdiFiles.build(disk(), false);
        try (VdiImage image = VdiImage.open(write(valid), CacheMode.WRITEBACK)) {
            assertEquals(java.util.List.of(), image.check());
        }
        // Blocks 0 and 1 both claim data block 4 (block 1 stored its data in 3).
        byte[] shared = patched(valid, 512 + 4, 4, 4);
        try (VdiImage image = VdiImage.open(write(shared), CacheMode.WRITEBACK)) {
            assertEquals(java.util.List.of("ERROR: block index 0 also used by 1"), image.check());
        }
        byte[] miscounted = patched(valid, 0x184, 2, 4);
        try (VdiImage image = VdiImage.open(write(miscounted), CacheMode.WRITEBACK)) {
            assertEquals(java.util.List.of("ERROR: allocated blocks mismatch, is 5, should be 2"), image.check());
        }
    }

    /** Seeded corruption of header and block map: every outcome is a clean read or an ImageException. */
    @Test
    void mutatedImagesNeverCrashOrHang() {
        byte[] original = VdiFiles.build(Arrays.copyOf(disk(), 3 << 20), true);
        Random random = new Random(77);
        int[] outcomes = new int[2];
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> {
            for (int round = 0; round < 200; round++) {
                byte[] mutant = original.clone();
                for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                    int at = 0x140 + random.nextInt(1024 - 0x140); // the size fields and the block map
                    mutant[at] = (byte) (random.nextBoolean() ? random.nextInt() : mutant[at] ^ (1 << random.nextInt(8)));
                }
                Path file = write(mutant);
                try (VdiImage image = VdiImage.open(file, CacheMode.WRITEBACK)) {
                    byte[] buffer = new byte[1 << 20];
                    for (long at = 0; at < Math.min(image.size(), 16 << 20); at += buffer.length) {
                        int n = (int) Math.min(buffer.length, image.size() - at);
                        image.blockStatus(at, n);
                        image.read(at, buffer, 0, n);
                    }
                    image.check();
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
