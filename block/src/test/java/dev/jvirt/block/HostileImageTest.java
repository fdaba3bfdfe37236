package dev.jvirt.block;

import dev.jvirt.block.qcow2.Qcow2Creator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Malformed and malicious qcow2 files are refused with a message, never crash, hang or get written. */
class HostileImageTest {

    @TempDir
    Path dir;
    private Path valid;
    private byte[] validBytes;

    @BeforeEach
    void makeValidImageWithData() throws IOException {
        valid = dir.resolve("valid.qcow2");
        Qcow2Creator.create(valid, new Qcow2Creator.Options(4 << 20, 4096, true, false, null, null));
        try (BlockDriver image = Images.open(valid, OpenOptions.forWriting())) {
            byte[] data = new byte[300_000];
            new Random(1).nextBytes(data);
            image.write(12345, data, 0, data.length);
        }
        validBytes = Files.readAllBytes(valid);
    }

    private String refusal(byte[] image) throws IOException {
        Path file = dir.resolve("hostile-" + System.nanoTime() + ".qcow2");
        Files.write(file, image);
        ImageException e = assertThrows(ImageException.class, () -> {
            try (BlockDriver opened = Images.open(file, OpenOptions.forReading())) {
                byte[] all = new byte[(int) opened.size()];
                opened.read(0, all, 0, all.length);
            }
        });
        assertArrayEquals(image, Files.readAllBytes(file), "a refused image is not modified");
        return e.getMessage();
    }

    private byte[] patched(int offset, long value, int width) {
        byte[] copy = validBytes.clone();
        ByteBuffer b = ByteBuffer.wrap(copy);
        switch (width) {
            case 4 -> b.putInt(offset, (int) value);
            case 8 -> b.putLong(offset, value);
            default -> b.put(offset, (byte) value);
        }
        return copy;
    }

    @Test
    void headerLiesAreNamed() throws IOException {
        assertTrue(refusal(patched(20, 30, 4)).contains("cluster_bits 30 is out of range"));
        assertTrue(refusal(patched(20, 8, 4)).contains("cluster_bits 8 is out of range"));
        assertTrue(refusal(patched(4, 7, 4)).contains("qcow2 version 7 is not supported"));
        assertTrue(refusal(patched(32, 1, 4)).contains("encrypted qcow2 images are not supported"));
        assertTrue(refusal(patched(24, Long.MAX_VALUE, 8)).contains("is too large"));
        assertTrue(refusal(patched(36, 0x7FFF_FFFF, 4)).contains("L1 table size"));
        assertTrue(refusal(patched(40, 1L << 40, 8)).contains("L1 table at 0x10000000000 extends past the end of the file"));
        assertTrue(refusal(patched(40, 0, 8)).contains("overlaps the header"));
        assertTrue(refusal(patched(48, 4096 + 1, 8)).contains("refcount table offset 0x1001 is not cluster aligned"));
        assertTrue(refusal(patched(56, 0x7FFF_FFFF, 4)).contains("refcount table of"));
        assertTrue(refusal(patched(96, 9, 4)).contains("refcount_order 9 is out of range"));
        assertTrue(refusal(patched(72, 1L << 20, 8)).contains("unsupported incompatible features 0x100000"));
        assertTrue(refusal(patched(60, 100, 4)).contains("snapshot table"));
        assertTrue(refusal(Arrays.copyOf(validBytes, 50)).contains("not a qcow2 image"));
    }

    @Test
    void tablesPointingOutsideTheFileAreRefusedWhenRead() throws IOException {
        long l1Offset = ByteBuffer.wrap(validBytes).getLong(40);
        byte[] l2PastEnd = patched((int) l1Offset, (1L << 63) | (1L << 45), 8);
        assertTrue(refusal(l2PastEnd).contains("L2 table at 0x200000000000"), refusal(l2PastEnd));
        byte[] l2InHeader = patched((int) l1Offset, 512, 8);
        assertTrue(refusal(l2InHeader).contains("misaligned, overlaps the header"));
    }

    @Test
    void backingChainLoopsAreRefused() throws IOException {
        Path a = dir.resolve("a.qcow2");
        Path b = dir.resolve("b.qcow2");
        Qcow2Creator.create(a, new Qcow2Creator.Options(1 << 20, 65536, true, false, "b.qcow2", "qcow2"));
        Qcow2Creator.create(b, new Qcow2Creator.Options(1 << 20, 65536, true, false, "a.qcow2", "qcow2"));
        ImageException e = assertThrows(ImageException.class, () -> Images.open(a, OpenOptions.forReading()));
        assertTrue(e.getMessage().contains("backing chain loops back"), e.getMessage());
    }

    /** Seeded mutations of the header and metadata: every outcome is a clean read or an IOException. */
    @Test
    void mutatedImagesNeverCrashOrHang() {
        Random random = new Random(20261122);
        int metadataEnd = Math.min(validBytes.length, 6 * 4096);
        int[] refused = {0};
        int[] opened = {0};
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int round = 0; round < 400; round++) {
                byte[] mutant = validBytes.clone();
                int flips = 1 + random.nextInt(8);
                for (int i = 0; i < flips; i++) {
                    int at = random.nextInt(metadataEnd);
                    mutant[at] = (byte) (random.nextBoolean() ? random.nextInt() : mutant[at] ^ (1 << random.nextInt(8)));
                }
                Path file = dir.resolve("mutant.qcow2");
                Files.write(file, mutant);
                try (BlockDriver image = Images.open(file, OpenOptions.forReading())) {
                    byte[] buffer = new byte[64 << 10];
                    for (long at = 0; at < Math.min(image.size(), 8 << 20); at += buffer.length) {
                        image.read(at, buffer, 0, (int) Math.min(buffer.length, image.size() - at));
                    }
                    opened[0]++;
                } catch (IOException expected) {
                    refused[0]++;
                    // refused or unreadable: fine, as long as it is an IOException with a message
                    assertTrue(expected.getMessage() != null && !expected.getMessage().isEmpty());
                }
                assertArrayEquals(mutant, Files.readAllBytes(file), "reading never writes");
            }
        });
        assertTrue(refused[0] > 40 && opened[0] > 40, "mutations exercise both paths: " + refused[0] + " refused, " + opened[0] + " read");
    }
}
