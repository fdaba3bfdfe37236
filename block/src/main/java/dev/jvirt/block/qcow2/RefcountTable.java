package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.HashMap;
import java.util.Map;

/**
 * The two-level refcount structure: a table of refcount block offsets, each block an array of
 * refcount_bits-wide counters, one per host cluster. Any width from 1 to 64 bits is read and
 * written (entries narrower than a byte are packed least significant bit first, as QEMU does).
 */
final class RefcountTable {

    private final FileChannel file;
    private final String name;
    private final int clusterBits;
    private final int refcountOrder;
    private final long tableOffset;
    private final long[] table;
    private final Map<Long, byte[]> blocks = new HashMap<>();

    RefcountTable(FileChannel file, String name, Qcow2Header header) throws IOException {
        this.file = file;
        this.name = name;
        this.clusterBits = header.clusterBits;
        this.refcountOrder = header.refcountOrder;
        this.tableOffset = header.refcountTableOffset;
        int entries = (int) (((long) header.refcountTableClusters << clusterBits) / 8);
        this.table = new long[entries];
        ByteBuffer buffer = ByteBuffer.allocate(entries * 8);
        Qcow2Io.readFully(file, buffer, tableOffset);
        for (int i = 0; i < entries; i++) {
            table[i] = buffer.getLong(i * 8) & Qcow2Image.OFFSET_MASK;
        }
    }

    /** How many clusters one refcount block describes. */
    long entriesPerBlock() {
        return (1L << (clusterBits + 3)) >> refcountOrder;
    }

    long maxValue() {
        return refcountOrder == 6 ? -1L : (1L << (1 << refcountOrder)) - 1;
    }

    long[] blockOffsets() {
        return table.clone();
    }

    long tableOffset() {
        return tableOffset;
    }

    int tableBytes() {
        return table.length * 8;
    }

    long get(long cluster) throws IOException {
        // Compared as a long: a hostile offset's cluster number can overflow an int.
        long blockIndex = cluster / entriesPerBlock();
        if (cluster < 0 || blockIndex >= table.length || table[(int) blockIndex] == 0) {
            return 0;
        }
        return readEntry(block(table[(int) blockIndex]), cluster % entriesPerBlock());
    }

    /**
     * Sets a cluster's refcount and writes the changed bytes. A missing refcount block is created
     * through {@code allocator}, which hands out a free cluster for it.
     */
    void set(long cluster, long value, ClusterAllocator allocator) throws IOException {
        if (Long.compareUnsigned(value, maxValue()) > 0) {
            throw new ImageException(name + ": refcount of cluster " + cluster + " would overflow " + (1 << refcountOrder) + " bits");
        }
        long wideIndex = cluster / entriesPerBlock();
        if (cluster < 0 || wideIndex >= table.length) {
            throw new ImageException(name + ": refcount table is full (growing it is not implemented yet)");
        }
        int blockIndex = (int) wideIndex;
        if (table[blockIndex] == 0) {
            createBlock(blockIndex, allocator);
        }
        long blockOffset = table[blockIndex];
        byte[] data = block(blockOffset);
        long index = cluster % entriesPerBlock();
        writeEntry(data, index, value);
        int width = 1 << refcountOrder;
        int byteIndex = (int) (index * width / 8);
        int byteCount = Math.max(1, width / 8);
        Qcow2Io.writeFully(file, ByteBuffer.wrap(data, byteIndex, byteCount), blockOffset + byteIndex);
    }

    /** Sets {@code count} consecutive clusters' refcounts to {@code value}, one write per refcount block. */
    void setRange(long firstCluster, int count, long value, ClusterAllocator allocator) throws IOException {
        long cluster = firstCluster;
        long end = firstCluster + count;
        while (cluster < end) {
            int blockIndex = (int) (cluster / entriesPerBlock());
            long blockEnd = Math.min(end, (blockIndex + 1L) * entriesPerBlock());
            if (blockIndex >= table.length || table[blockIndex] == 0 || refcountOrder < 3) {
                for (; cluster < blockEnd; cluster++) {
                    set(cluster, value, allocator);
                }
                continue;
            }
            long blockOffset = table[blockIndex];
            byte[] data = block(blockOffset);
            for (long c = cluster; c < blockEnd; c++) {
                writeEntry(data, c % entriesPerBlock(), value);
            }
            int bytes = (1 << refcountOrder) / 8;
            int from = (int) ((cluster % entriesPerBlock()) * bytes);
            int to = (int) (((blockEnd - 1) % entriesPerBlock() + 1) * bytes);
            Qcow2Io.writeFully(file, ByteBuffer.wrap(data, from, to - from), blockOffset + from);
            cluster = blockEnd;
        }
    }

    private void createBlock(int blockIndex, ClusterAllocator allocator) throws IOException {
        long blockCluster = allocator.nextFreeCluster();
        long blockOffset = blockCluster << clusterBits;
        byte[] data = new byte[1 << clusterBits];
        // A new block usually describes its own cluster: count it in itself before it is linked.
        if (blockCluster / entriesPerBlock() == blockIndex) {
            writeEntry(data, blockCluster % entriesPerBlock(), 1);
        }
        Qcow2Io.writeFully(file, ByteBuffer.wrap(data), blockOffset);
        blocks.put(blockOffset, data);
        file.force(false);
        table[blockIndex] = blockOffset;
        Qcow2Io.writeFully(file, ByteBuffer.allocate(8).putLong(0, blockOffset), tableOffset + 8L * blockIndex);
        file.force(false);
        if (blockCluster / entriesPerBlock() != blockIndex) {
            set(blockCluster, 1, allocator);
        }
    }

    private byte[] block(long offset) throws IOException {
        byte[] data = blocks.get(offset);
        if (data == null) {
            if ((offset & ((1L << clusterBits) - 1)) != 0 || offset + (1L << clusterBits) > file.size()) {
                throw new ImageException(name + ": refcount block at 0x" + Long.toHexString(offset) + " is misaligned or past the end of the file");
            }
            data = new byte[1 << clusterBits];
            Qcow2Io.readFully(file, ByteBuffer.wrap(data), offset);
            blocks.put(offset, data);
        }
        return data;
    }

    /** A copy of refcount block {@code blockIndex} as it is now; zeroes if the table has no such block. */
    byte[] copyOfBlock(int blockIndex) throws IOException {
        if (blockIndex >= table.length || table[blockIndex] == 0) {
            return new byte[1 << clusterBits];
        }
        return block(table[blockIndex]).clone();
    }

    long readEntry(byte[] data, long index) {
        int width = 1 << refcountOrder;
        if (width < 8) {
            int bit = (int) (index * width);
            return (data[bit / 8] >> (bit % 8)) & ((1 << width) - 1);
        }
        int bytes = width / 8;
        int at = (int) (index * bytes);
        long value = 0;
        for (int i = 0; i < bytes; i++) {
            value = (value << 8) | (data[at + i] & 0xFF);
        }
        return value;
    }

    void writeEntry(byte[] data, long index, long value) {
        int width = 1 << refcountOrder;
        if (width < 8) {
            int bit = (int) (index * width);
            int mask = ((1 << width) - 1) << (bit % 8);
            data[bit / 8] = (byte) ((data[bit / 8] & ~mask) | ((int) (value << (bit % 8)) & mask));
            return;
        }
        int bytes = width / 8;
        int at = (int) (index * bytes);
        for (int i = bytes - 1; i >= 0; i--) {
            data[at + i] = (byte) value;
            value >>>= 8;
        }
    }

    /** Hands out clusters nobody uses yet. */
    interface ClusterAllocator {
        long nextFreeCluster() throws IOException;
    }
}
