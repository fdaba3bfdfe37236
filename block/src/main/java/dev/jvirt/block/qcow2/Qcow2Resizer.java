package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Changes a qcow2 image's virtual size, as qemu-img resize does.
 *
 * <p>Growing past what the L1 table covers writes a larger L1 table to new clusters, then
 * switches the header to it (size, L1 size and L1 offset in one sector-sized write), then frees
 * the old table: a crash before the header write leaves the old image plus leaked clusters, after
 * it the new one. The refcount table is grown the same way when the new size could need more
 * refcount blocks than it can point to.
 *
 * <p>Shrinking writes the smaller size first (the guest no longer sees the tail), then unlinks the
 * L2 entries and tables beyond it, then drops their refcounts, then truncates the file to its last
 * used cluster; a crash in between leaves leaks only. Images with internal snapshots are not
 * shrunk (their tables may be shared).
 */
public final class Qcow2Resizer {

    private Qcow2Resizer() {
    }

    public static void resize(Path path, long newSize) throws IOException {
        if (newSize < 0 || newSize > Qcow2Header.MAX_VIRTUAL_SIZE) {
            throw new ImageException("Image size is invalid: " + newSize);
        }
        if (newSize % 512 != 0) {
            throw new ImageException("The new size must be a multiple of 512");
        }
        long oldSize;
        try (Qcow2File image = Qcow2File.openForUpdate(path)) {
            oldSize = image.header.size;
            if (newSize < oldSize) {
                shrink(image, newSize);
            } else if (newSize > oldSize) {
                growRefcountTable(image, newSize);
            }
        }
        if (newSize > oldSize) {
            // Opened again: the refcount table may have moved.
            try (Qcow2File image = Qcow2File.openForUpdate(path)) {
                grow(image, newSize);
            }
        }
    }

    private static void grow(Qcow2File image, long newSize) throws IOException {
        Qcow2Header header = image.header;
        long l2Coverage = (long) image.clusterSize * header.l2Entries();
        long neededL1 = Qcow2Header.divideRoundingUp(newSize, l2Coverage);
        if (neededL1 * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw new ImageException("The image size is too large for the L1 table (try using a larger cluster size)");
        }
        if (neededL1 <= header.l1Size) {
            ByteBuffer size = ByteBuffer.allocate(8).putLong(0, newSize);
            Qcow2Io.writeFully(image.file, size, 24);
            image.barrier();
            return;
        }
        int oldClusters = (int) Qcow2Header.divideRoundingUp((long) header.l1Size * 8, image.clusterSize);
        int newClusters = (int) Qcow2Header.divideRoundingUp(neededL1 * 8, image.clusterSize);
        long newOffset = image.allocate(newClusters);
        ByteBuffer table = ByteBuffer.allocate(newClusters * image.clusterSize);
        for (int i = 0; i < header.l1Size; i++) {
            table.putLong(i * 8, image.l1[i]);
        }
        Qcow2Io.writeFully(image.file, table, newOffset);
        image.barrier();
        // size (24), crypt_method (32), l1_size (36), l1_table_offset (40): one 24-byte write.
        ByteBuffer fields = ByteBuffer.allocate(24);
        fields.putLong(0, newSize);
        fields.putInt(8, header.cryptMethod);
        fields.putInt(12, (int) neededL1);
        fields.putLong(16, newOffset);
        Qcow2Io.writeFully(image.file, fields, 24);
        image.barrier();
        if (header.l1Size > 0) {
            for (int i = 0; i < oldClusters; i++) {
                image.decrement((header.l1TableOffset >>> image.clusterBits) + i);
            }
        }
    }

    /**
     * Makes the refcount table big enough to point to every refcount block a fully allocated image
     * of the new size could need (Qcow2Creator sizes it the same way), since writes do not grow it.
     */
    private static void growRefcountTable(Qcow2File image, long newSize) throws IOException {
        long l1Entries = Qcow2Header.divideRoundingUp(newSize, (long) image.clusterSize * image.header.l2Entries());
        RefcountTable refcounts = image.refcounts;
        long perBlock = refcounts.entriesPerBlock();
        long fileClusters = Qcow2Header.divideRoundingUp(image.file.size(), image.clusterSize);
        long worstCase = fileClusters + Qcow2Header.divideRoundingUp(newSize, image.clusterSize) + l1Entries
                + Qcow2Header.divideRoundingUp(l1Entries * 8, image.clusterSize) + 16;
        long blocks = Qcow2Header.divideRoundingUp(worstCase, perBlock);
        long tableClusters = Qcow2Header.divideRoundingUp(blocks * 8, image.clusterSize);
        blocks = Qcow2Header.divideRoundingUp(worstCase + tableClusters + blocks, perBlock);
        long neededEntries = blocks + 1;
        long oldEntries = refcounts.tableBytes() / 8;
        if (neededEntries <= oldEntries) {
            return;
        }
        int newTableClusters = (int) Qcow2Header.divideRoundingUp(neededEntries * 8, image.clusterSize);
        if ((long) newTableClusters * image.clusterSize > Qcow2Header.MAX_REFTABLE_BYTES) {
            throw new ImageException("The image size is too large for the refcount table (try using a larger cluster size)");
        }
        // Lay out the new table after the end of the file and count its clusters in blocks that
        // live there too, all linked from the new table only: until the header points at it,
        // nothing refers to these clusters.
        long[] oldTable = refcounts.blockOffsets();
        long[] newTable = java.util.Arrays.copyOf(oldTable, newTableClusters * (image.clusterSize / 8));
        long start = fileClusters;
        long extraBlocks = 0;
        while (true) {
            long last = start + extraBlocks + newTableClusters - 1;
            long missing = 0;
            for (long b = start / perBlock; b <= last / perBlock; b++) {
                if (b >= oldTable.length || oldTable[(int) b] == 0) {
                    missing++;
                }
            }
            if (missing <= extraBlocks) {
                break;
            }
            extraBlocks = missing;
        }
        long tableStart = start + extraBlocks;
        long end = tableStart + newTableClusters;
        if ((end - 1) / perBlock >= newTable.length) {
            throw new ImageException("The image size is too large for the refcount table (try using a larger cluster size)");
        }
        // New blocks occupy [start, tableStart), the table [tableStart, end).
        long nextBlockCluster = start;
        java.util.Map<Long, byte[]> newBlocks = new java.util.LinkedHashMap<>();
        for (long b = start / perBlock; b <= (end - 1) / perBlock; b++) {
            if (b < oldTable.length && oldTable[(int) b] != 0) {
                continue;
            }
            newTable[(int) b] = nextBlockCluster << image.clusterBits;
            newBlocks.put(b, new byte[image.clusterSize]);
            nextBlockCluster++;
        }
        int width = image.header.refcountBits() / 8;
        for (long cluster = start; cluster < end; cluster++) {
            long b = cluster / perBlock;
            byte[] block = newBlocks.get(b);
            if (block != null) {
                int at = (int) ((cluster % perBlock) * width);
                block[at + width - 1] = 1;
            }
        }
        for (var entry : newBlocks.entrySet()) {
            Qcow2Io.writeFully(image.file, ByteBuffer.wrap(entry.getValue()), newTable[(int) (long) entry.getKey()]);
        }
        ByteBuffer tableBytes = ByteBuffer.allocate(newTableClusters * image.clusterSize);
        for (int i = 0; i < newTable.length; i++) {
            tableBytes.putLong(i * 8, newTable[i]);
        }
        Qcow2Io.writeFully(image.file, tableBytes, tableStart << image.clusterBits);
        image.barrier();
        // Clusters of the new table or blocks that fall into existing blocks are counted there.
        for (long cluster = start; cluster < end; cluster++) {
            long b = cluster / perBlock;
            if (!newBlocks.containsKey(b)) {
                refcounts.set(cluster, 1, () -> {
                    throw new IOException("refcount table growth needs no further block");
                });
            }
        }
        image.barrier();
        // refcount_table_offset (48) and refcount_table_clusters (56): one 12-byte write.
        ByteBuffer fields = ByteBuffer.allocate(12);
        fields.putLong(0, tableStart << image.clusterBits);
        fields.putInt(8, newTableClusters);
        Qcow2Io.writeFully(image.file, fields, 48);
        image.barrier();
        long oldOffset = refcounts.tableOffset();
        int oldClusters = (int) Qcow2Header.divideRoundingUp(refcounts.tableBytes(), image.clusterSize);
        // The old table object still reaches the old blocks, which is where the old table is counted.
        for (int i = 0; i < oldClusters; i++) {
            image.decrement((oldOffset >>> image.clusterBits) + i);
        }
    }

    private static void shrink(Qcow2File image, long newSize) throws IOException {
        Qcow2Header header = image.header;
        if (header.snapshotCount > 0) {
            throw new ImageException("Can't shrink an image with internal snapshots");
        }
        ByteBuffer size = ByteBuffer.allocate(8).putLong(0, newSize);
        Qcow2Io.writeFully(image.file, size, 24);
        image.barrier();

        int l2Entries = header.l2Entries();
        long keptClusters = Qcow2Header.divideRoundingUp(newSize, image.clusterSize);
        int keptL1 = (int) Qcow2Header.divideRoundingUp(keptClusters, l2Entries);
        // The last kept L2 table loses its entries past the new end.
        if (keptClusters % l2Entries != 0 && keptL1 - 1 < image.l1.length) {
            long l1Entry = image.l1[keptL1 - 1];
            long l2Offset = l1Entry & Qcow2Image.OFFSET_MASK;
            if (l2Offset != 0) {
                if ((l1Entry & Qcow2Image.COPIED) == 0) {
                    throw new ImageException(image.name + ": L2 table at 0x" + Long.toHexString(l2Offset) + " is shared; cannot shrink in place");
                }
                long[] l2 = image.readL2(l2Offset);
                int from = (int) (keptClusters % l2Entries);
                long[] dropped = java.util.Arrays.copyOfRange(l2, from, l2.length);
                java.util.Arrays.fill(l2, from, l2.length, 0L);
                image.writeL2Entries(l2Offset, l2, from, l2.length);
                image.barrier();
                for (long entry : dropped) {
                    image.releaseData(entry);
                }
            }
        }
        // Whole L2 tables past the new end go.
        if (keptL1 < image.l1.length) {
            long[] dropped = java.util.Arrays.copyOfRange(image.l1, keptL1, image.l1.length);
            java.util.Arrays.fill(image.l1, keptL1, image.l1.length, 0L);
            image.writeL1Entries(keptL1, image.l1.length);
            image.barrier();
            for (long l1Entry : dropped) {
                long l2Offset = l1Entry & Qcow2Image.OFFSET_MASK;
                if (l2Offset != 0) {
                    image.releaseL2(l2Offset);
                }
            }
        }
        image.truncateToLastUsedCluster();
    }
}
