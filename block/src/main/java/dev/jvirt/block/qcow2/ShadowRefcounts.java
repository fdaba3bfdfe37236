package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The refcounts as they will be after a metadata switch, kept apart from the ones in use: every
 * refcount block that changes is copied in memory, and {@link #place} puts the copies into new
 * clusters with a new refcount table that names them (and the unchanged blocks where they are).
 * Nothing of the structure in use is written, so until the header names the new table the old one
 * describes the file exactly as before; afterwards the new one does, with the old table and the
 * replaced blocks counted free.
 */
final class ShadowRefcounts {

    /** Where the new refcount table lies, how long it is, and every cluster to write (offset to bytes). */
    record Layout(long tableOffset, int tableClusters, Map<Long, byte[]> writes) { }

    /** Hands out clusters in a row that neither the old nor the new refcounts count, without counting them. */
    interface ClusterSource {
        long freeRun(int count) throws IOException;
    }

    private final RefcountTable current;
    private final String name;
    private final int clusterBits;
    private final long perBlock;
    private final long[] oldTable;
    private final TreeMap<Integer, byte[]> changed = new TreeMap<>();

    ShadowRefcounts(RefcountTable current, String name, int clusterBits) {
        this.current = current;
        this.name = name;
        this.clusterBits = clusterBits;
        this.perBlock = current.entriesPerBlock();
        this.oldTable = current.blockOffsets();
    }

    long get(long cluster) throws IOException {
        byte[] copy = changed.get(blockIndex(cluster));
        return copy != null ? current.readEntry(copy, cluster % perBlock) : current.get(cluster);
    }

    /** Changes a cluster's refcount by {@code delta}; refuses counts below zero or above the refcount width. */
    void add(long cluster, long delta) throws IOException {
        if (delta == 0) {
            return;
        }
        long value = get(cluster) + delta;
        if (value < 0) {
            throw new ImageException(name + ": the refcount of cluster " + cluster
                    + " would drop below zero; the image is corrupt (qemu-img check -r all repairs it)");
        }
        if (Long.compareUnsigned(value, current.maxValue()) > 0) {
            throw new ImageException(name + ": the refcount of cluster " + cluster + " would overflow its "
                    + Long.bitCount(current.maxValue()) + " bits");
        }
        int index = blockIndex(cluster);
        byte[] copy = changed.get(index);
        if (copy == null) {
            copy = current.copyOfBlock(index);
            changed.put(index, copy);
        }
        current.writeEntry(copy, cluster % perBlock, value);
    }

    private int blockIndex(long cluster) throws ImageException {
        long index = cluster / perBlock;
        if (cluster < 0 || index >= Qcow2Header.MAX_REFTABLE_BYTES / 8) {
            throw new ImageException(name + ": cluster " + cluster + " lies beyond what a refcount table can describe");
        }
        return (int) index;
    }

    /**
     * Gives every changed block a new cluster and the structure a new table, big enough for the
     * blocks now needed, and counts all of that in the copies, the old table and replaced blocks
     * as free. Counting a new cluster can change a block not yet placed (or need a larger table),
     * so this repeats until nothing moves; the source hands out clusters in increasing order, so
     * only finitely many blocks can ever be touched and it ends.
     */
    Layout place(ClusterSource source, long oldTableOffset, int oldTableClusters) throws IOException {
        for (int i = 0; i < oldTableClusters; i++) {
            add((oldTableOffset >>> clusterBits) + i, -1);
        }
        Map<Integer, Long> placed = new TreeMap<>();
        long tableCluster = -1;
        int tableClusters = 0;
        int clusterSize = 1 << clusterBits;
        boolean moved = true;
        while (moved) {
            moved = false;
            for (int index : new ArrayList<>(changed.keySet())) {
                if (placed.containsKey(index)) {
                    continue;
                }
                long cluster = source.freeRun(1);
                placed.put(index, cluster);
                add(cluster, 1);
                if (index < oldTable.length && oldTable[index] != 0) {
                    add(oldTable[index] >>> clusterBits, -1);
                }
                moved = true;
            }
            long entries = Math.max(oldTable.length, changed.lastKey() + 1L);
            int clusters = (int) Qcow2Header.divideRoundingUp(entries * 8, clusterSize);
            if (clusters > tableClusters) {
                if ((long) clusters * clusterSize > Qcow2Header.MAX_REFTABLE_BYTES) {
                    throw new ImageException(name + ": the refcount table would grow past " + (Qcow2Header.MAX_REFTABLE_BYTES >> 20) + " MiB");
                }
                // A smaller table placed in an earlier round is never written: its clusters go back to free.
                for (int i = 0; i < tableClusters; i++) {
                    add(tableCluster + i, -1);
                }
                tableCluster = source.freeRun(clusters);
                tableClusters = clusters;
                for (int i = 0; i < clusters; i++) {
                    add(tableCluster + i, 1);
                }
                moved = true;
            }
        }
        Map<Long, byte[]> writes = new LinkedHashMap<>();
        long[] table = java.util.Arrays.copyOf(oldTable, tableClusters * (clusterSize / 8));
        for (Map.Entry<Integer, Long> block : placed.entrySet()) {
            long offset = block.getValue() << clusterBits;
            table[block.getKey()] = offset;
            writes.put(offset, changed.get(block.getKey()));
        }
        ByteBuffer tableBytes = ByteBuffer.allocate(tableClusters * clusterSize);
        for (int i = 0; i < table.length; i++) {
            tableBytes.putLong(i * 8, table[i]);
        }
        writes.put(tableCluster << clusterBits, tableBytes.array());
        return new Layout(tableCluster << clusterBits, tableClusters, writes);
    }
}
