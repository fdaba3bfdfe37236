package dev.jvirt.block.qcow2;

/**
 * Where a compressed cluster's data lies, decoded from its L2 entry (qcow2.txt, "Compressed
 * Clusters Descriptor"): with x = 62 - (cluster_bits - 8), bits 0..x-1 are the host byte offset
 * and bits x..61 the number of 512-byte sectors after the first that the data occupies.
 */
record CompressedCluster(long hostOffset, long length) {

    static CompressedCluster decode(long entry, int clusterBits) {
        int shift = 62 - (clusterBits - 8);
        long host = entry & ((1L << shift) - 1);
        long sectors = ((entry & ~Qcow2Image.COPIED & ~Qcow2Image.COMPRESSED) >>> shift) + 1;
        return new CompressedCluster(host, sectors * 512 - (host & 511));
    }

    long firstCluster(int clusterBits) {
        return hostOffset >>> clusterBits;
    }

    long lastCluster(int clusterBits) {
        return (hostOffset + length - 1) >>> clusterBits;
    }
}
