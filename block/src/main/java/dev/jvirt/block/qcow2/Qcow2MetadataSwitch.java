package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Replaces a qcow2 image's active L1 table, snapshot table and refcounts together, with one header
 * write, as the internal snapshot operations need.
 *
 * <p>Why not QEMU's order (refcounts first, then the COPIED flags in place, header last): a
 * refcount block and an active L2 entry whose COPIED flag must agree with it lie in different
 * sectors, so a crash between the two writes leaves a flag that contradicts its refcount, which
 * qemu-img check counts as corruption. Here everything that changes is written afresh beside the
 * old: the new active L1 table, copies of the active L2 tables whose flags change, the snapshot
 * table, and the changed refcount blocks with a new refcount table (see {@link ShadowRefcounts}).
 * Then bytes 24..71 of the header (size, L1 table, refcount table, snapshot table) switch from
 * the old set to the new in one sector write. A crash before it leaves the old image untouched,
 * the new clusters lying where it counts nothing; after it, the new image is complete and counts
 * whatever only the old structures used as free. Neither leaks nor corrupts.
 *
 * <p>References are counted per path, as QEMU and qemu-img check count them: an L2 table gets
 * one per L1 entry that names it, a data cluster one per L1 entry naming an L2 table that names
 * it. So when the number of L1 entries naming an L2 table changes by n, the table's own refcount
 * and that of each cluster it names change by n.
 */
final class Qcow2MetadataSwitch {

    private final Qcow2File image;
    private final Qcow2Header header;
    private final ShadowRefcounts refcounts;
    private final int clusterBits;
    private final long fileClusters;
    /** L2 table offset to the change in the number of L1 entries naming it. */
    private final Map<Long, Long> l2Uses = new TreeMap<>();
    /** Other metadata clusters (L1 and snapshot tables) to the change in their refcount. */
    private final Map<Long, Long> metadata = new TreeMap<>();
    /** Where the search for free clusters goes on (cluster 0 is the header). */
    private long scan = 1;

    Qcow2MetadataSwitch(Qcow2File image) throws IOException {
        this.image = image;
        this.header = image.header;
        this.clusterBits = image.clusterBits;
        this.refcounts = new ShadowRefcounts(image.refcounts, image.name, clusterBits);
        this.fileClusters = Qcow2Header.divideRoundingUp(image.file.size(), image.clusterSize);
    }

    /** An L1 table referenced after the switch that was not before (the old active one, kept as a snapshot's). */
    void keepTable(long offset, long[] entries) {
        changeTable(offset, entries, 1);
    }

    /** An L1 table referenced before the switch and not after (a deleted snapshot's). */
    void dropTable(long offset, long[] entries) {
        changeTable(offset, entries, -1);
    }

    private void changeTable(long offset, long[] entries, long sign) {
        changeClusters(offset, entries.length * 8L, sign);
        for (long entry : entries) {
            long l2 = entry & Qcow2Image.OFFSET_MASK;
            if (l2 != 0) {
                l2Uses.merge(l2, sign, Long::sum);
            }
        }
    }

    private void changeClusters(long offset, long length, long sign) {
        for (long cluster = offset >>> clusterBits; length > 0 && cluster <= (offset + length - 1) >>> clusterBits; cluster++) {
            metadata.merge(cluster, sign, Long::sum);
        }
    }

    /**
     * Makes {@code active} (L2 table offsets; flags are recomputed) the active L1 table of an image
     * of {@code size} bytes whose snapshot table is {@code snapshots}. The current active L1 table
     * and the current snapshot table ({@code oldSnapshotTableBytes} long) are no longer referenced.
     */
    void commit(long[] active, long size, List<Qcow2Snapshot> snapshots, long oldSnapshotTableBytes) throws IOException {
        changeTable(header.l1TableOffset, image.l1, -1);
        Set<Long> named = new LinkedHashSet<>();
        for (long entry : active) {
            long l2 = entry & Qcow2Image.OFFSET_MASK;
            if (l2 != 0) {
                if (!named.add(l2)) {
                    throw new ImageException(image.name + ": L2 table at 0x" + Long.toHexString(l2) + " appears twice in one L1 table");
                }
                l2Uses.merge(l2, 1L, Long::sum);
            }
        }
        // Increments before decrements: a refcount then only reaches zero if that is where it ends.
        countDataPaths(true);
        countDataPaths(false);

        // An active L2 table whose COPIED flags already agree with the new counts stays where it
        // is; otherwise the active L1 gets a copy with the right flags, and the table itself keeps
        // serving whichever snapshot names it.
        Map<Long, long[]> copies = new LinkedHashMap<>();
        for (long l2 : named) {
            long[] entries = image.readL2(l2);
            long[] flagged = withCopiedFlags(entries);
            if (!Arrays.equals(entries, flagged)) {
                copies.put(l2, flagged);
                l2Uses.merge(l2, -1L, Long::sum);
            }
        }
        for (boolean increments : new boolean[] {true, false}) {
            for (Map.Entry<Long, Long> use : l2Uses.entrySet()) {
                if ((use.getValue() > 0) == increments) {
                    refcounts.add(use.getKey() >>> clusterBits, use.getValue());
                }
            }
        }

        ShadowRefcounts.ClusterSource source = this::freeRun;
        int clusterSize = image.clusterSize;
        int l1Clusters = (int) Math.max(1, Qcow2Header.divideRoundingUp(active.length * 8L, clusterSize));
        long l1Offset = allocate(source, l1Clusters);
        Map<Long, Long> copyOffsets = new HashMap<>();
        for (long l2 : copies.keySet()) {
            copyOffsets.put(l2, allocate(source, 1));
        }
        byte[] table = Qcow2SnapshotTable.serialize(snapshots);
        long tableOffset = table.length == 0 ? 0 : allocate(source, (int) Qcow2Header.divideRoundingUp(table.length, clusterSize));
        if (header.snapshotCount > 0) {
            changeClusters(header.snapshotsOffset, oldSnapshotTableBytes, -1);
        }
        for (boolean increments : new boolean[] {true, false}) {
            for (Map.Entry<Long, Long> change : metadata.entrySet()) {
                if ((change.getValue() > 0) == increments) {
                    refcounts.add(change.getKey(), change.getValue());
                }
            }
        }

        long[] l1 = new long[active.length];
        for (int i = 0; i < active.length; i++) {
            long l2 = active[i] & Qcow2Image.OFFSET_MASK;
            if (copyOffsets.containsKey(l2)) {
                l1[i] = copyOffsets.get(l2) | Qcow2Image.COPIED;
            } else if (l2 != 0) {
                l1[i] = refcounts.get(l2 >>> clusterBits) == 1 ? l2 | Qcow2Image.COPIED : l2;
            }
        }
        ShadowRefcounts.Layout layout = refcounts.place(source, header.refcountTableOffset, header.refcountTableClusters);

        for (Map.Entry<Long, long[]> copy : copies.entrySet()) {
            write(copyOffsets.get(copy.getKey()), longs(copy.getValue(), clusterSize));
        }
        write(l1Offset, longs(l1, l1Clusters * clusterSize));
        if (table.length > 0) {
            write(tableOffset, table);
        }
        for (Map.Entry<Long, byte[]> block : layout.writes().entrySet()) {
            write(block.getKey(), block.getValue());
        }
        image.barrier();
        ByteBuffer fields = ByteBuffer.allocate(48);
        fields.putLong(0, size);                        // 24: size
        fields.putInt(8, header.cryptMethod);           // 32: crypt_method, as it was
        fields.putInt(12, active.length);               // 36: l1_size
        fields.putLong(16, l1Offset);                   // 40: l1_table_offset
        fields.putLong(24, layout.tableOffset());       // 48: refcount_table_offset
        fields.putInt(32, layout.tableClusters());      // 56: refcount_table_clusters
        fields.putInt(36, snapshots.size());            // 60: nb_snapshots
        fields.putLong(40, tableOffset);                // 64: snapshots_offset
        Qcow2Io.writeFully(image.file, fields, 24);
        image.barrier();
    }

    /** Changes the count of every cluster named by each L2 table whose uses change (in one direction). */
    private void countDataPaths(boolean increments) throws IOException {
        for (Map.Entry<Long, Long> use : l2Uses.entrySet()) {
            long change = use.getValue();
            if (change == 0 || (change > 0) != increments) {
                continue;
            }
            for (long entry : image.readL2(use.getKey())) {
                if ((entry & Qcow2Image.COMPRESSED) != 0) {
                    CompressedCluster where = CompressedCluster.decode(entry, clusterBits);
                    long last = where.lastCluster(clusterBits);
                    checkInsideFile(use.getKey(), last);
                    for (long cluster = where.firstCluster(clusterBits); cluster <= last; cluster++) {
                        refcounts.add(cluster, change);
                    }
                } else if ((entry & Qcow2Image.OFFSET_MASK) != 0) {
                    long cluster = (entry & Qcow2Image.OFFSET_MASK) >>> clusterBits;
                    checkInsideFile(use.getKey(), cluster);
                    refcounts.add(cluster, change);
                }
            }
        }
    }

    private void checkInsideFile(long l2, long cluster) throws ImageException {
        if (cluster >= fileClusters) {
            throw new ImageException(image.name + ": L2 table at 0x" + Long.toHexString(l2) + " names cluster 0x"
                    + Long.toHexString(cluster << clusterBits) + " past the end of the file");
        }
    }

    /**
     * The entries with COPIED set exactly where the cluster's new refcount is 1, as qemu-img check
     * expects of active tables; compressed and unallocated entries never carry it.
     */
    private long[] withCopiedFlags(long[] entries) throws IOException {
        long[] flagged = new long[entries.length];
        for (int i = 0; i < entries.length; i++) {
            long entry = entries[i];
            long host = entry & Qcow2Image.OFFSET_MASK;
            boolean copied = (entry & Qcow2Image.COMPRESSED) == 0 && host != 0 && refcounts.get(host >>> clusterBits) == 1;
            flagged[i] = copied ? entry | Qcow2Image.COPIED : entry & ~Qcow2Image.COPIED;
        }
        return flagged;
    }

    private long allocate(ShadowRefcounts.ClusterSource source, int clusters) throws IOException {
        long first = source.freeRun(clusters);
        for (int i = 0; i < clusters; i++) {
            refcounts.add(first + i, 1);
        }
        return first << clusterBits;
    }

    /**
     * Clusters in a row that neither the refcounts in use nor the new ones count: free before the
     * switch and after it, so writing there cannot touch the image in use. Holes earlier switches
     * left (old tables, replaced refcount blocks) are taken first, as QEMU would, so repeated
     * snapshot operations do not keep growing the file; past its end everything is free.
     */
    private long freeRun(int count) throws IOException {
        long first = scan;
        int have = 0;
        while (have < count) {
            long cluster = first + have;
            if (image.refcounts.get(cluster) == 0 && refcounts.get(cluster) == 0) {
                have++;
            } else {
                first = cluster + 1;
                have = 0;
            }
        }
        scan = first + count;
        return first;
    }

    private void write(long offset, byte[] bytes) throws IOException {
        Qcow2Io.writeFully(image.file, ByteBuffer.wrap(bytes), offset);
    }

    private static byte[] longs(long[] values, int length) {
        ByteBuffer bytes = ByteBuffer.allocate(length);
        for (int i = 0; i < values.length; i++) {
            bytes.putLong(i * 8, values[i]);
        }
        return bytes.array();
    }
}
