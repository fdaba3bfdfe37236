package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * qemu-img check for qcow2: counts every reference to every host cluster by walking the
 * metadata (header, refcount structures, snapshot table, active and snapshot L1/L2 tables, data
 * and compressed clusters) and compares with the stored refcounts. A refcount above its
 * references is a leak (wasted space); below is a corruption (a cluster could be reused while in
 * use). Repair sets the stored refcount to the counted one.
 */
public final class Qcow2Checker {

    /** What was found, in qemu-img's terms. */
    public record Report(long corruptions, long leaks, long corruptionsFixed, long leaksFixed, long checkErrors,
                         long imageEndOffset, long totalClusters, long allocatedClusters, long fragmentedClusters,
                         long compressedClusters, List<String> messages) { }

    private final Qcow2Image image;
    private final Qcow2Header header;
    private final int clusterBits;
    private final long clusterSize;
    private long[] references;
    private long fileClusters;
    private final List<String> messages = new ArrayList<>();
    private long checkErrors;
    private long allocated;
    private long fragmented;
    private long compressed;
    private long nextContiguous;

    public Qcow2Checker(Qcow2Image image) {
        this.image = image;
        this.header = image.header();
        this.clusterBits = header.clusterBits;
        this.clusterSize = 1L << clusterBits;
    }

    /** Checks, and when {@code repairLeaks}/{@code repairCorruptions} say so, fixes refcounts in place. */
    public Report check(boolean repairLeaks, boolean repairCorruptions) throws IOException {
        fileClusters = Qcow2Header.divideRoundingUp(image.fileLength(), clusterSize);
        references = new long[(int) Math.min(Integer.MAX_VALUE - 8, fileClusters + 1)];
        reference(0, clusterSize);                                             // header
        RefcountTable refcounts = image.refcounts();
        reference(refcounts.tableOffset(), refcounts.tableBytes());
        for (long block : refcounts.blockOffsets()) {
            if (block != 0) {
                reference(block, clusterSize);
            }
        }
        walkL1(header.l1TableOffset, image.l1Table(), true);
        walkSnapshots();

        long corruptions = 0;
        long leaks = 0;
        long corruptionsFixed = 0;
        long leaksFixed = 0;
        long highest = -1;
        long scanned = Math.max(fileClusters, references.length);
        for (long cluster = 0; cluster < scanned; cluster++) {
            long stored = refcounts.get(cluster);
            long counted = cluster < references.length ? references[(int) cluster] : 0;
            if (stored > 0) {
                highest = Math.max(highest, cluster);
            }
            if (stored == counted) {
                continue;
            }
            boolean leak = stored > counted;
            boolean repair = leak ? repairLeaks : repairCorruptions;
            messages.add((repair ? "Repairing " : leak ? "Leaked " : "ERROR ") + "cluster " + cluster
                    + " refcount=" + stored + " reference=" + counted);
            if (repair) {
                refcounts.set(cluster, counted, () -> {
                    throw new IOException("repair would need a new refcount block");
                });
                if (leak) {
                    leaksFixed++;
                } else {
                    corruptionsFixed++;
                }
            } else if (leak) {
                leaks++;
            } else {
                corruptions++;
            }
        }
        corruptions += checkCopiedFlags(refcounts);
        long totalClusters = Qcow2Header.divideRoundingUp(header.size, clusterSize);
        return new Report(corruptions, leaks, corruptionsFixed, leaksFixed, checkErrors, (highest + 1) * clusterSize,
                totalClusters, allocated, fragmented, compressed, messages);
    }

    /**
     * The COPIED flag on active L1 and L2 entries promises a refcount of exactly 1 (so the cluster
     * may be written in place); any disagreement is a corruption, as qemu-img counts it.
     */
    private long checkCopiedFlags(RefcountTable refcounts) throws IOException {
        long errors = 0;
        long[] l1 = image.l1Table();
        for (int i = 0; i < l1.length; i++) {
            long l2Offset = l1[i] & Qcow2Image.OFFSET_MASK;
            if (l2Offset == 0) {
                continue;
            }
            long refcount = refcounts.get(l2Offset >>> clusterBits);
            if ((refcount == 1) != ((l1[i] & Qcow2Image.COPIED) != 0)) {
                messages.add("ERROR OFLAG_COPIED L2 cluster: l1_index=" + i + " l1_entry=" + Long.toHexString(l1[i]) + " refcount=" + refcount);
                errors++;
            }
            long[] l2;
            try {
                l2 = image.readL2(l2Offset);
            } catch (IOException e) {
                continue; // already reported by the walk
            }
            for (long entry : l2) {
                long host = entry & Qcow2Image.OFFSET_MASK;
                if ((entry & Qcow2Image.COMPRESSED) != 0 || host == 0) {
                    continue;
                }
                long dataRefcount = refcounts.get(host >>> clusterBits);
                if ((dataRefcount == 1) != ((entry & Qcow2Image.COPIED) != 0)) {
                    messages.add("ERROR OFLAG_COPIED data cluster: l2_entry=" + Long.toHexString(entry) + " refcount=" + dataRefcount);
                    errors++;
                }
            }
        }
        return errors;
    }

    private void walkL1(long l1Offset, long[] l1, boolean active) throws IOException {
        reference(l1Offset, (long) l1.length * 8);
        for (long l1Entry : l1) {
            long l2Offset = l1Entry & Qcow2Image.OFFSET_MASK;
            if (l2Offset == 0) {
                continue;
            }
            if (!reference(l2Offset, clusterSize)) {
                continue;
            }
            nextContiguous = 0; // qemu-img counts fragmentation within each L2 table
            long[] l2;
            try {
                l2 = image.readL2(l2Offset);
            } catch (IOException e) {
                messages.add("ERROR reading L2 table at 0x" + Long.toHexString(l2Offset) + ": " + e.getMessage());
                checkErrors++;
                continue;
            }
            for (long entry : l2) {
                walkL2Entry(entry, active);
            }
        }
    }

    private void walkL2Entry(long entry, boolean active) {
        if ((entry & Qcow2Image.COMPRESSED) != 0) {
            CompressedCluster where = CompressedCluster.decode(entry, clusterBits);
            long first = where.hostOffset() & -clusterSize;
            reference(first, where.hostOffset() + where.length() - first);
            if (active) {
                allocated++;
                compressed++;
                fragmented++; // as qemu-img counts them: compressed clusters are fragmented by nature
            }
            return;
        }
        long host = entry & Qcow2Image.OFFSET_MASK;
        if (host == 0) {
            return;
        }
        reference(host, clusterSize);
        if (active && (entry & Qcow2Image.ZERO) == 0) {
            allocated++;
            if (nextContiguous != 0 && host != nextContiguous) {
                fragmented++;
            }
            nextContiguous = host + clusterSize;
        }
    }

    private void walkSnapshots() throws IOException {
        if (header.snapshotCount == 0) {
            return;
        }
        FileChannel file = image.channel();
        Qcow2SnapshotTable table;
        try {
            table = Qcow2SnapshotTable.read(file, header, image.name());
        } catch (ImageException e) {
            messages.add("ERROR failed to read the snapshot table: " + e.getMessage());
            checkErrors++;
            return;
        }
        reference(header.snapshotsOffset, table.byteLength());
        for (Qcow2Snapshot snapshot : table.snapshots()) {
            ByteBuffer l1Bytes = ByteBuffer.allocate(snapshot.l1Size() * 8);
            Qcow2Io.readFully(file, l1Bytes, snapshot.l1TableOffset());
            long[] l1 = new long[snapshot.l1Size()];
            for (int j = 0; j < l1.length; j++) {
                l1[j] = l1Bytes.getLong(j * 8);
            }
            walkL1(snapshot.l1TableOffset(), l1, false);
        }
    }

    /** Counts one reference to each cluster in [offset, offset+length); false if the range is invalid. */
    private boolean reference(long offset, long length) {
        if (length <= 0) {
            return true;
        }
        if (offset < 0 || (offset & (clusterSize - 1)) != 0) {
            messages.add("ERROR offset=0x" + Long.toHexString(offset) + ": Cluster is not properly aligned; L2 entry corrupted.");
            checkErrors++;
            return false;
        }
        long first = offset >>> clusterBits;
        long last = (offset + length - 1) >>> clusterBits;
        // Past the end of the file nothing can be stored, and counting there would let a hostile
        // entry make the count array as large as the offset it names.
        if (last >= fileClusters) {
            messages.add("ERROR reference to 0x" + Long.toHexString(offset) + " is past the end of the file");
            checkErrors++;
            return false;
        }
        if (last >= references.length) {
            references = java.util.Arrays.copyOf(references, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(last + 1, references.length * 2L)));
        }
        for (long cluster = first; cluster <= last; cluster++) {
            references[(int) cluster]++;
        }
        return true;
    }
}
