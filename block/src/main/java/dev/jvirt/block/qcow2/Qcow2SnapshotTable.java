package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The snapshot table (qcow2.txt, "Snapshots"): nb_snapshots entries from snapshots_offset, each a
 * 40-byte fixed part, extra data, the ID and the name, the next entry starting at the next multiple
 * of 8. Parsing believes nothing the file says: every read is checked to lie inside the file, each
 * entry's L1 table to be cluster aligned, inside the file and no larger than QEMU allows, the extra
 * data to stay within QEMU's 1 KiB and the whole table within its 64 MiB, so a hostile table costs
 * at most that much memory and one pass.
 */
final class Qcow2SnapshotTable {

    /** QEMU's limits (block/qcow2.h): QCOW_MAX_SNAPSHOTS, QCOW_MAX_SNAPSHOT_EXTRA_DATA, QCOW_MAX_SNAPSHOTS_SIZE. */
    static final int MAX_SNAPSHOTS = 65536;
    static final int MAX_EXTRA_DATA = 1024;
    static final long MAX_TABLE_BYTES = 64L << 20;

    private static final int FIXED_BYTES = 40;
    /** vm_state_size_large, disk_size and icount: what QEMU writes into every entry it rewrites. */
    private static final int KNOWN_EXTRA_BYTES = 24;

    private final List<Qcow2Snapshot> snapshots;
    private final long byteLength;

    private Qcow2SnapshotTable(List<Qcow2Snapshot> snapshots, long byteLength) {
        this.snapshots = List.copyOf(snapshots);
        this.byteLength = byteLength;
    }

    List<Qcow2Snapshot> snapshots() {
        return snapshots;
    }

    /** Bytes from snapshots_offset to the end of the last entry (the clusters the table holds). */
    long byteLength() {
        return byteLength;
    }

    static Qcow2SnapshotTable read(FileChannel file, Qcow2Header header, String name) throws IOException {
        int count = header.snapshotCount;
        if (count == 0) {
            return new Qcow2SnapshotTable(List.of(), 0);
        }
        if (count < 0 || count > MAX_SNAPSHOTS) {
            throw new ImageException(name + ": snapshot count " + Integer.toUnsignedString(count) + " is invalid (at most " + MAX_SNAPSHOTS + ")");
        }
        long clusterSize = header.clusterSize();
        long start = header.snapshotsOffset;
        if (start < clusterSize || (start & (clusterSize - 1)) != 0) {
            throw new ImageException(name + ": snapshot table offset 0x" + Long.toHexString(start) + " is not cluster aligned or overlaps the header");
        }
        long fileSize = file.size();
        List<Qcow2Snapshot> snapshots = new ArrayList<>(Math.min(count, 1024));
        long at = start;
        for (int i = 0; i < count; i++) {
            at = alignTo8(at);
            ByteBuffer fixed = readInside(file, fileSize, at, FIXED_BYTES, name, i);
            long l1Offset = fixed.getLong(0);
            int l1Size = fixed.getInt(8);
            int idLength = Short.toUnsignedInt(fixed.getShort(12));
            int nameLength = Short.toUnsignedInt(fixed.getShort(14));
            long dateSeconds = Integer.toUnsignedLong(fixed.getInt(16));
            long dateNanos = Integer.toUnsignedLong(fixed.getInt(20));
            long vmClockNanos = fixed.getLong(24);
            long vmStateSize = Integer.toUnsignedLong(fixed.getInt(32));
            long extraLength = Integer.toUnsignedLong(fixed.getInt(36));
            if (extraLength > MAX_EXTRA_DATA) {
                throw new ImageException(name + ": too much extra metadata in snapshot table entry " + i + " ("
                        + extraLength + " > " + MAX_EXTRA_DATA + " bytes)");
            }
            checkL1(name, i, l1Offset, l1Size, clusterSize, fileSize);
            int variable = (int) extraLength + idLength + nameLength;
            if (at + FIXED_BYTES + variable - start > MAX_TABLE_BYTES) {
                throw new ImageException(name + ": snapshot table is too big (entry " + i + " ends more than 64 MiB after its start)");
            }
            ByteBuffer rest = readInside(file, fileSize, at + FIXED_BYTES, variable, name, i);
            int extra = (int) extraLength;
            if (extra >= 8) {
                vmStateSize = rest.getLong(0);
            }
            long diskSize = header.size;
            if (extra >= 16) {
                diskSize = rest.getLong(8);
                if (diskSize < 0 || diskSize > Qcow2Header.MAX_VIRTUAL_SIZE) {
                    throw new ImageException(name + ": snapshot table entry " + i + " has an invalid disk size " + Long.toUnsignedString(diskSize));
                }
            }
            long icount = extra >= KNOWN_EXTRA_BYTES ? rest.getLong(16) : -1;
            byte[] unknown = new byte[Math.max(0, extra - KNOWN_EXTRA_BYTES)];
            if (unknown.length > 0) {
                rest.get(KNOWN_EXTRA_BYTES, unknown);
            }
            byte[] id = new byte[idLength];
            rest.get(extra, id);
            byte[] snapshotName = new byte[nameLength];
            rest.get(extra + idLength, snapshotName);
            snapshots.add(new Qcow2Snapshot(new String(id, StandardCharsets.UTF_8), new String(snapshotName, StandardCharsets.UTF_8),
                    l1Offset, l1Size, dateSeconds, dateNanos, vmClockNanos, vmStateSize, diskSize, icount, unknown));
            at += FIXED_BYTES + variable;
        }
        return new Qcow2SnapshotTable(snapshots, at - start);
    }

    private static void checkL1(String name, int i, long offset, int size, long clusterSize, long fileSize) throws ImageException {
        String entry = name + ": snapshot table entry " + i + ": ";
        if (size < 0 || (long) size * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw new ImageException(entry + "L1 table size " + Integer.toUnsignedString(size) + " is too large");
        }
        if (size == 0) {
            return;
        }
        if (offset < clusterSize || (offset & (clusterSize - 1)) != 0) {
            throw new ImageException(entry + "L1 table offset 0x" + Long.toHexString(offset) + " is not cluster aligned or overlaps the header");
        }
        if (offset > fileSize || (long) size * 8 > fileSize - offset) {
            throw new ImageException(entry + "L1 table at 0x" + Long.toHexString(offset) + " extends past the end of the file");
        }
    }

    private static ByteBuffer readInside(FileChannel file, long fileSize, long at, int length, String name, int entry) throws IOException {
        if (at > fileSize || length > fileSize - at) {
            throw new ImageException(name + ": snapshot table entry " + entry + " at 0x" + Long.toHexString(at) + " extends past the end of the file");
        }
        ByteBuffer bytes = ByteBuffer.allocate(length);
        Qcow2Io.readFully(file, bytes, at);
        return bytes;
    }

    /**
     * The table as QEMU writes it: every entry with the 24 bytes of extra data QEMU knows followed
     * by any it does not, entries 8-byte aligned, nothing after the last one.
     */
    static byte[] serialize(List<Qcow2Snapshot> snapshots) throws ImageException {
        if (snapshots.size() > MAX_SNAPSHOTS) {
            throw new ImageException("too many snapshots (at most " + MAX_SNAPSHOTS + ")");
        }
        List<byte[]> ids = new ArrayList<>();
        List<byte[]> names = new ArrayList<>();
        long length = 0;
        for (Qcow2Snapshot snapshot : snapshots) {
            byte[] id = snapshot.id().getBytes(StandardCharsets.UTF_8);
            byte[] name = snapshot.name().getBytes(StandardCharsets.UTF_8);
            if (id.length > 0xFFFF || name.length > 0xFFFF) {
                throw new ImageException("snapshot ID or name is longer than 65535 bytes");
            }
            ids.add(id);
            names.add(name);
            length = alignTo8(length) + FIXED_BYTES + KNOWN_EXTRA_BYTES + snapshot.unknownExtraData().length + id.length + name.length;
        }
        if (length > MAX_TABLE_BYTES) {
            throw new ImageException("the snapshot table would be larger than 64 MiB");
        }
        ByteBuffer table = ByteBuffer.allocate((int) length);
        int at = 0;
        for (int i = 0; i < snapshots.size(); i++) {
            Qcow2Snapshot snapshot = snapshots.get(i);
            byte[] unknown = snapshot.unknownExtraData();
            at = (int) alignTo8(at);
            table.putLong(at, snapshot.l1TableOffset());
            table.putInt(at + 8, snapshot.l1Size());
            table.putShort(at + 12, (short) ids.get(i).length);
            table.putShort(at + 14, (short) names.get(i).length);
            table.putInt(at + 16, (int) snapshot.dateSeconds());
            table.putInt(at + 20, (int) snapshot.dateNanos());
            table.putLong(at + 24, snapshot.vmClockNanos());
            // A VM state too large for the old 32-bit field reads as none to old readers, not as a truncated one.
            table.putInt(at + 32, Long.compareUnsigned(snapshot.vmStateSize(), 0xFFFF_FFFFL) <= 0 ? (int) snapshot.vmStateSize() : 0);
            table.putInt(at + 36, KNOWN_EXTRA_BYTES + unknown.length);
            table.putLong(at + 40, snapshot.vmStateSize());
            table.putLong(at + 48, snapshot.diskSize());
            table.putLong(at + 56, snapshot.icount());
            at += FIXED_BYTES + KNOWN_EXTRA_BYTES;
            table.put(at, unknown);
            at += unknown.length;
            table.put(at, ids.get(i));
            at += ids.get(i).length;
            table.put(at, names.get(i));
            at += names.get(i).length;
        }
        return table.array();
    }

    private static long alignTo8(long offset) {
        return (offset + 7) & ~7L;
    }
}
