package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Internal snapshots of a qcow2 image, as qemu-img snapshot handles them: list, create, apply,
 * delete. Each change is one {@link Qcow2MetadataSwitch}: the new active L1 table, snapshot
 * table and refcounts are written beside the old ones and switched in by one header write.
 *
 * <ul>
 * <li>Create: the current active L1 table becomes the snapshot's, as it is; the image gets a new
 * active L1 naming the same L2 tables, or copies of them with COPIED cleared where clusters are
 * now shared, so the next guest write to a shared cluster copies it first.
 * <li>Apply: the new active L1 names the snapshot's L2 tables (or copies with recomputed
 * flags); the old active tables lose their references; the virtual size becomes the snapshot's.
 * <li>Delete: the snapshot's L1 table and its references go; active tables whose clusters are no
 * longer shared get COPIED back.
 * </ul>
 */
public final class Qcow2Snapshots {

    /** qemu-img copies names into a 256-byte buffer (QEMUSnapshotInfo.name): longer ones are cut. */
    static final int MAX_NAME_BYTES = 255;

    private Qcow2Snapshots() {
    }

    public static List<Qcow2Snapshot> list(Path path) throws IOException {
        Qcow2Header header = readHeader(path);
        try (FileChannel file = FileChannel.open(path, StandardOpenOption.READ)) {
            return Qcow2SnapshotTable.read(file, header, path.toString()).snapshots();
        }
    }

    /** Takes a disk-only snapshot named {@code name} (an ID is chosen as QEMU does) at {@code when}. */
    public static Qcow2Snapshot create(Path path, String name, Instant when) throws IOException {
        try (Qcow2File image = Qcow2File.openForUpdate(path)) {
            Qcow2Header header = image.header;
            Qcow2SnapshotTable table = Qcow2SnapshotTable.read(image.file, header, image.name);
            if (table.snapshots().size() >= Qcow2SnapshotTable.MAX_SNAPSHOTS) {
                throw new ImageException("too many snapshots (at most " + Qcow2SnapshotTable.MAX_SNAPSHOTS + ")");
            }
            // qemu-img stamps snapshots from g_get_real_time(): microseconds.
            Qcow2Snapshot snapshot = new Qcow2Snapshot(nextId(table.snapshots()), truncate(name), header.l1TableOffset, header.l1Size,
                    when.getEpochSecond() & 0xFFFF_FFFFL, (when.getNano() / 1000) * 1000L, 0, 0, header.size, 0, new byte[0]);
            List<Qcow2Snapshot> snapshots = new ArrayList<>(table.snapshots());
            snapshots.add(snapshot);
            Qcow2MetadataSwitch change = new Qcow2MetadataSwitch(image);
            change.keepTable(header.l1TableOffset, image.l1);
            change.commit(image.l1, header.size, snapshots, table.byteLength());
            return snapshot;
        }
    }

    /** Reverts the disk to snapshot {@code idOrName} (an ID first, then a name, as qemu-img snapshot -a looks). */
    public static void apply(Path path, String idOrName) throws IOException {
        try (Qcow2File image = Qcow2File.openForUpdate(path)) {
            Qcow2SnapshotTable table = Qcow2SnapshotTable.read(image.file, image.header, image.name);
            Qcow2Snapshot snapshot = findByIdOrName(table.snapshots(), idOrName);
            if (snapshot == null) {
                throw new NoSuchSnapshotException("no snapshot with ID or name '" + idOrName + "'");
            }
            long size = snapshot.diskSize();
            long needed = Qcow2Header.divideRoundingUp(size, (long) image.clusterSize * image.header.l2Entries());
            long length = Math.max(snapshot.l1Size(), needed);
            if (length * 8 > Qcow2Header.MAX_L1_BYTES) {
                throw new ImageException(image.name + ": snapshot '" + snapshot.name() + "' needs an L1 table larger than QEMU allows");
            }
            long[] active = Arrays.copyOf(readL1(image, snapshot), (int) length);
            Qcow2MetadataSwitch change = new Qcow2MetadataSwitch(image);
            change.commit(active, size, table.snapshots(), table.byteLength());
        }
    }

    /** Deletes the snapshot named {@code name} (qemu-img 7.2's snapshot -d finds snapshots by name only). */
    public static void delete(Path path, String name) throws IOException {
        try (Qcow2File image = Qcow2File.openForUpdate(path)) {
            Qcow2SnapshotTable table = Qcow2SnapshotTable.read(image.file, image.header, image.name);
            Qcow2Snapshot snapshot = findByName(table.snapshots(), name);
            if (snapshot == null) {
                throw new NoSuchSnapshotException("no snapshot named '" + name + "'");
            }
            List<Qcow2Snapshot> snapshots = new ArrayList<>(table.snapshots());
            snapshots.remove(snapshots.indexOf(snapshot));
            Qcow2MetadataSwitch change = new Qcow2MetadataSwitch(image);
            change.dropTable(snapshot.l1TableOffset(), readL1(image, snapshot));
            change.commit(image.l1, image.header.size, snapshots, table.byteLength());
        }
    }

    /**
     * QEMU's find_snapshot_by_id_and_name, as convert -l snapshot.id=...,snapshot.name=... looks:
     * the first snapshot whose ID and name match those given (null matches any). Null if none.
     */
    public static Qcow2Snapshot findByIdAndName(List<Qcow2Snapshot> snapshots, String id, String name) {
        if (id == null && name == null) {
            return null;
        }
        for (Qcow2Snapshot snapshot : snapshots) {
            if ((id == null || snapshot.id().equals(id)) && (name == null || snapshot.name().equals(name))) {
                return snapshot;
            }
        }
        return null;
    }

    /** QEMU's find_snapshot_by_id_or_name: a matching ID wins over a matching name. Null if none. */
    public static Qcow2Snapshot findByIdOrName(List<Qcow2Snapshot> snapshots, String key) {
        for (Qcow2Snapshot snapshot : snapshots) {
            if (snapshot.id().equals(key)) {
                return snapshot;
            }
        }
        return findByName(snapshots, key);
    }

    static Qcow2Snapshot findByName(List<Qcow2Snapshot> snapshots, String name) {
        for (Qcow2Snapshot snapshot : snapshots) {
            if (snapshot.name().equals(name)) {
                return snapshot;
            }
        }
        return null;
    }

    /** One more than the largest ID read as a number, as QEMU's find_new_snapshot_id (strtoul) does. */
    static String nextId(List<Qcow2Snapshot> snapshots) {
        long max = 0;
        for (Qcow2Snapshot snapshot : snapshots) {
            long id = leadingNumber(snapshot.id());
            if (Long.compareUnsigned(id, max) > 0) {
                max = id;
            }
        }
        return Long.toUnsignedString(max + 1);
    }

    /** C's strtoul(text, NULL, 10): leading blanks, a sign, the digits up to the first other character. */
    static long leadingNumber(String text) {
        int at = 0;
        while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
            at++;
        }
        boolean negative = false;
        if (at < text.length() && (text.charAt(at) == '+' || text.charAt(at) == '-')) {
            negative = text.charAt(at) == '-';
            at++;
        }
        long value = 0;
        for (; at < text.length() && text.charAt(at) >= '0' && text.charAt(at) <= '9'; at++) {
            int digit = text.charAt(at) - '0';
            if (Long.compareUnsigned(value, Long.divideUnsigned(-1L - digit, 10)) > 0) {
                return -1L; // ULONG_MAX on overflow
            }
            value = value * 10 + digit;
        }
        return negative ? -value : value;
    }

    /** At most {@link #MAX_NAME_BYTES} bytes of UTF-8, cut at a character boundary. */
    static String truncate(String name) {
        int bytes = 0;
        int end = 0;
        while (end < name.length()) {
            int codePoint = name.codePointAt(end);
            int length = new String(Character.toChars(codePoint)).getBytes(StandardCharsets.UTF_8).length;
            if (bytes + length > MAX_NAME_BYTES) {
                break;
            }
            bytes += length;
            end += Character.charCount(codePoint);
        }
        return name.substring(0, end);
    }

    private static long[] readL1(Qcow2File image, Qcow2Snapshot snapshot) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(snapshot.l1Size() * 8);
        Qcow2Io.readFully(image.file, bytes, snapshot.l1TableOffset());
        long[] l1 = new long[snapshot.l1Size()];
        for (int i = 0; i < l1.length; i++) {
            l1[i] = bytes.getLong(i * 8);
        }
        return l1;
    }

    private static Qcow2Header readHeader(Path path) throws IOException {
        try {
            return Qcow2Image.readHeader(path);
        } catch (NoSuchFileException e) {
            throw new ImageException("Could not open '" + path + "': No such file or directory");
        }
    }
}
