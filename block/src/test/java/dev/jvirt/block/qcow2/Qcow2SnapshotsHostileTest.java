package dev.jvirt.block.qcow2;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Snapshot tables whose entries are valid but whose L1 and L2 tables lie: apply and delete must
 * refuse them, saying what is wrong, before writing a byte.
 */
class Qcow2SnapshotsHostileTest {

    @TempDir
    Path dir;
    private Path original;
    private long snapshotL1;
    private long snapshotL2;

    @BeforeEach
    void imageWithASnapshot() throws Exception {
        original = dir.resolve("original.qcow2");
        Qcow2Creator.create(original, new Qcow2Creator.Options(8 << 20, 4096, true, false, null, null));
        byte[] data = new byte[3 << 20];
        Arrays.fill(data, (byte) 1);
        try (BlockDriver image = Images.open(original, OpenOptions.forWriting())) {
            image.write(0, data, 0, data.length);
        }
        Qcow2Snapshots.create(original, "s", Instant.EPOCH);
        Arrays.fill(data, (byte) 2);
        try (BlockDriver image = Images.open(original, OpenOptions.forWriting())) {
            image.write(0, data, 0, 4096);
        }
        snapshotL1 = Qcow2Snapshots.list(original).getFirst().l1TableOffset();
        try (RandomAccessFile file = new RandomAccessFile(original.toFile(), "r")) {
            file.seek(snapshotL1);
            snapshotL2 = file.readLong() & Qcow2Image.OFFSET_MASK;
        }
    }

    private void assertRefused(long offset, long value, String reason) throws Exception {
        Path image = dir.resolve("lie.qcow2");
        Files.copy(original, image, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.seek(offset);
            file.writeLong(value);
        }
        byte[] before = Files.readAllBytes(image);
        ImageException applied = assertThrows(ImageException.class, () -> Qcow2Snapshots.apply(image, "s"));
        assertTrue(applied.getMessage().contains(reason), applied.getMessage());
        ImageException deleted = assertThrows(ImageException.class, () -> Qcow2Snapshots.delete(image, "s"));
        assertTrue(deleted.getMessage().contains(reason), deleted.getMessage());
        assertArrayEquals(before, Files.readAllBytes(image));
    }

    @Test
    void anL2TablePastTheEndOfTheFile() throws Exception {
        assertRefused(snapshotL1, Qcow2Image.COPIED | (1L << 40), "L2 table at 0x10000000000 is misaligned, overlaps the header or lies past the end");
    }

    @Test
    void aMisalignedL2Table() throws Exception {
        assertRefused(snapshotL1, snapshotL2 + 512, "is misaligned");
    }

    @Test
    void anL2TableNamedTwice() throws Exception {
        // Apply sees the duplicate; delete would take the table's refcount below zero.
        Path image = dir.resolve("twice.qcow2");
        Files.copy(original, image);
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.seek(snapshotL1 + 8);
            file.writeLong(snapshotL2);
        }
        byte[] before = Files.readAllBytes(image);
        ImageException applied = assertThrows(ImageException.class, () -> Qcow2Snapshots.apply(image, "s"));
        assertTrue(applied.getMessage().contains("appears twice in one L1 table"), applied.getMessage());
        ImageException deleted = assertThrows(ImageException.class, () -> Qcow2Snapshots.delete(image, "s"));
        assertTrue(deleted.getMessage().contains("would drop below zero"), deleted.getMessage());
        assertArrayEquals(before, Files.readAllBytes(image));
    }

    @Test
    void aDataClusterPastTheEndOfTheFile() throws Exception {
        assertRefused(snapshotL2 + 8, Qcow2Image.COPIED | (1L << 40), "names cluster 0x10000000000 past the end of the file");
    }
}
