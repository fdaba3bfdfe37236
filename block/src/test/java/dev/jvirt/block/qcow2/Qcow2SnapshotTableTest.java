package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The snapshot table's layout, what survives a rewrite, and the limits that keep hostile tables cheap. */
class Qcow2SnapshotTableTest {

    @TempDir
    Path dir;

    private Path image(String name) throws Exception {
        Path image = dir.resolve(name);
        Qcow2Creator.create(image, Qcow2Creator.Options.defaults(64L << 20));
        return image;
    }

    private static Qcow2Header header(Path image) throws Exception {
        return Qcow2Image.readHeader(image);
    }

    @Test
    void entriesAreLaidOutAsQcow2TxtSays() throws Exception {
        Path image = image("layout.qcow2");
        Qcow2Snapshots.create(image, "first", Instant.ofEpochSecond(1_700_000_000L, 123_456_789));
        Qcow2Snapshots.create(image, "zweite Aufnahme", Instant.ofEpochSecond(1_700_000_001L));
        Qcow2Header header = header(image);
        assertEquals(2, header.snapshotCount);
        ByteBuffer table = ByteBuffer.wrap(Files.readAllBytes(image)).position((int) header.snapshotsOffset).slice();
        assertEquals(header.l1Size, table.getInt(8));
        assertEquals(1, table.getShort(12));                       // ID "1"
        assertEquals(5, table.getShort(14));                       // "first"
        assertEquals(1_700_000_000L, Integer.toUnsignedLong(table.getInt(16)));
        assertEquals(123_456_000, table.getInt(20));               // microseconds, as qemu-img stamps them
        assertEquals(24, table.getInt(36));                        // vm_state_size_large, disk_size, icount
        assertEquals(64L << 20, table.getLong(48));
        assertEquals(0, table.getLong(56));
        assertEquals('1', table.get(64));
        assertEquals("first", new String(table.array(), table.arrayOffset() + 65, 5));
        int second = (64 + 1 + 5 + 7) & ~7;                        // the next entry starts 8-byte aligned
        assertEquals(1, table.getShort(second + 12));
        assertEquals('2', table.get(second + 64));

        List<Qcow2Snapshot> snapshots = Qcow2Snapshots.list(image);
        assertEquals(List.of("1", "2"), snapshots.stream().map(Qcow2Snapshot::id).toList());
        assertEquals("zweite Aufnahme", snapshots.get(1).name());
        assertEquals(0L, snapshots.get(0).icount());
    }

    @Test
    void unknownExtraDataAndOldEntriesSurviveARewrite() throws Exception {
        Path image = image("extra.qcow2");
        Qcow2Snapshots.create(image, "a", Instant.EPOCH);
        Qcow2Snapshots.create(image, "b", Instant.EPOCH);
        // Rebuild the table: entry "a" with 16 more bytes of extra data nobody knows, entry "b"
        // as an old writer left it, with 16 bytes of extra data (no icount).
        Qcow2Header header = header(image);
        List<Qcow2Snapshot> read = Qcow2Snapshots.list(image);
        byte[] unknown = "sixteen bytes!!!".getBytes();
        Qcow2Snapshot a = read.get(0);
        byte[] table = Qcow2SnapshotTable.serialize(List.of(new Qcow2Snapshot(a.id(), a.name(), a.l1TableOffset(), a.l1Size(),
                a.dateSeconds(), a.dateNanos(), 0, 0, a.diskSize(), 0, unknown), read.get(1)));
        ByteBuffer patched = ByteBuffer.wrap(table);
        int second = (int) ((40 + 24 + unknown.length + 1 + 1 + 7) & ~7);
        patched.putInt(second + 36, 16);
        byte[] shortened = new byte[table.length - 8];
        System.arraycopy(table, 0, shortened, 0, second + 56);
        System.arraycopy(table, second + 64, shortened, second + 56, table.length - second - 64);
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.seek(header.snapshotsOffset);
            file.write(shortened);
            file.setLength(Math.max(file.length(), header.snapshotsOffset + shortened.length));
        }
        List<Qcow2Snapshot> before = Qcow2Snapshots.list(image);
        assertArrayEquals(unknown, before.get(0).unknownExtraData());
        assertEquals(-1, before.get(1).icount());
        assertEquals("b", before.get(1).name());

        Qcow2Snapshots.create(image, "c", Instant.EPOCH);
        List<Qcow2Snapshot> after = Qcow2Snapshots.list(image);
        assertArrayEquals(unknown, after.get(0).unknownExtraData());
        assertEquals(-1, after.get(1).icount());
        assertEquals(64L << 20, after.get(1).diskSize());
        assertEquals(List.of("1", "2", "3"), after.stream().map(Qcow2Snapshot::id).toList());
    }

    @Test
    void sixtyFourThousandEmptyEntriesAreReadInOnePass() throws Exception {
        // All-zero 40-byte entries are valid snapshots (QEMU's iotest 261 uses them).
        Path image = image("many.qcow2");
        long tableOffset = 1L << 20;
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.setLength(tableOffset + 40L * 65536);
            file.seek(60);
            file.writeInt(65536);
            file.writeLong(tableOffset);
        }
        try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ)) {
            Qcow2SnapshotTable table = Qcow2SnapshotTable.read(file, header(image), image.toString());
            assertEquals(65536, table.snapshots().size());
            assertEquals(40L * 65536, table.byteLength());
        }
    }

    @Test
    void aTableBeyondSixtyFourMebibytesIsRefused() throws Exception {
        Path image = image("big.qcow2");
        long tableOffset = 1L << 20;
        int entryBytes = 40 + 1024 + 65535 + 65535;
        int entries = (int) ((64L << 20) / entryBytes) + 2;
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.setLength(tableOffset + (long) entries * (entryBytes + 8)); // sparse
            long at = tableOffset;
            for (int i = 0; i < entries; i++) {
                file.seek(at + 12);
                file.writeShort(0xFFFF);
                file.writeShort(0xFFFF);
                file.seek(at + 36);
                file.writeInt(1024);
                at = (at + entryBytes + 7) & ~7L;
            }
            file.seek(60);
            file.writeInt(entries);
            file.writeLong(tableOffset);
        }
        ImageException refused = assertThrows(ImageException.class, () -> Qcow2Snapshots.list(image));
        assertTrue(refused.getMessage().contains("snapshot table is too big"), refused.getMessage());
        byte[] before = Files.readAllBytes(image);
        assertThrows(ImageException.class, () -> Qcow2Snapshots.create(image, "x", Instant.EPOCH));
        assertArrayEquals(before, Files.readAllBytes(image));
    }

    @Test
    void idsFollowQemusNumbering() {
        Qcow2Snapshot template = new Qcow2Snapshot("", "", 0, 0, 0, 0, 0, 0, 0, 0, new byte[0]);
        java.util.function.Function<String, Qcow2Snapshot> withId = id -> new Qcow2Snapshot(id, "", 0, 0, 0, 0, 0, 0, 0, 0, new byte[0]);
        assertEquals("1", Qcow2Snapshots.nextId(List.of()));
        assertEquals("1", Qcow2Snapshots.nextId(List.of(template)));
        assertEquals("8", Qcow2Snapshots.nextId(List.of(withId.apply("3"), withId.apply("7abc"), withId.apply("x"))));
        // qemu-img keeps at most 255 bytes of a name; a two-byte character is not split.
        assertEquals(254, Qcow2Snapshots.truncate("é".repeat(200)).getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
        assertEquals(255, Qcow2Snapshots.truncate("n".repeat(300)).length());
    }
}
