package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Creates an empty qcow2 image laid out as qemu-img does: header in cluster 0, the refcount
 * table from cluster 1, one refcount block, then the L1 table. The refcount table is sized for a
 * fully allocated image, so writes never need to grow it.
 */
public final class Qcow2Creator {

    /** What {@code qemu-img create -f qcow2 -o ...} accepts that we honour. */
    public record Options(long size, int clusterSize, boolean compat11, boolean lazyRefcounts,
                          String backingFile, String backingFormat, boolean zstd) {

        public Options(long size, int clusterSize, boolean compat11, boolean lazyRefcounts, String backingFile, String backingFormat) {
            this(size, clusterSize, compat11, lazyRefcounts, backingFile, backingFormat, false);
        }

        public static Options defaults(long size) {
            return new Options(size, 65536, true, false, null, null);
        }
    }

    private Qcow2Creator() {
    }

    public static void create(Path path, Options options) throws IOException {
        int clusterSize = options.clusterSize();
        if (Integer.bitCount(clusterSize) != 1 || clusterSize < 512 || clusterSize > (2 << 20)) {
            throw new ImageException("Cluster size must be a power of two between 512 and 2048k");
        }
        if (options.size() < 0 || options.size() > Qcow2Header.MAX_VIRTUAL_SIZE) {
            throw new ImageException("Image size is invalid: " + options.size());
        }
        if (options.zstd() && !options.compat11()) {
            throw new ImageException("Compression type can only be set with compatibility level 1.1 and above (use compat=1.1 or greater)");
        }
        if (options.lazyRefcounts() && !options.compat11()) {
            throw new ImageException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
        }
        int clusterBits = Integer.numberOfTrailingZeros(clusterSize);
        long l2Coverage = (long) clusterSize * (clusterSize / 8);
        long l1Entries = Qcow2Header.divideRoundingUp(options.size(), l2Coverage);
        long l1Clusters = Math.max(1, Qcow2Header.divideRoundingUp(l1Entries * 8, clusterSize));
        if (l1Entries * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw new ImageException("Image size " + options.size() + " needs an L1 table larger than 32 MiB; use a larger cluster_size");
        }
        long entriesPerBlock = (long) clusterSize * 8 / 16;
        long worstCaseClusters = Qcow2Header.divideRoundingUp(options.size(), clusterSize) + l1Entries + l1Clusters + 16;
        long blocks = Qcow2Header.divideRoundingUp(worstCaseClusters, entriesPerBlock);
        long tableClusters = Qcow2Header.divideRoundingUp(blocks * 8, clusterSize);
        blocks = Qcow2Header.divideRoundingUp(worstCaseClusters + tableClusters + blocks, entriesPerBlock);
        tableClusters = Math.max(1, Qcow2Header.divideRoundingUp(blocks * 8, clusterSize));
        if (tableClusters * clusterSize > Qcow2Header.MAX_REFTABLE_BYTES) {
            throw new ImageException("Image size " + options.size() + " is too large for cluster_size " + clusterSize);
        }

        long refcountTable = clusterSize;
        long refcountBlock = refcountTable + tableClusters * clusterSize;
        long l1Table = refcountBlock + clusterSize;
        long end = l1Table + l1Clusters * clusterSize;
        long metadataClusters = end / clusterSize;
        if (metadataClusters > entriesPerBlock) {
            throw new ImageException("Image metadata does not fit one refcount block; use a larger cluster_size");
        }

        ByteBuffer header = ByteBuffer.allocate(clusterSize);
        header.putInt(0, Qcow2Header.MAGIC);
        header.putInt(4, options.compat11() ? 3 : 2);
        header.putInt(20, clusterBits);
        header.putLong(24, options.size());
        header.putInt(36, (int) l1Entries);
        header.putLong(40, l1Table);
        header.putLong(48, refcountTable);
        header.putInt(56, (int) tableClusters);
        int at = Qcow2Header.V2_HEADER_LENGTH;
        if (options.compat11()) {
            header.putLong(80, options.lazyRefcounts() ? Qcow2Header.COMPAT_LAZY_REFCOUNTS : 0);
            header.putInt(96, 4);                               // refcount_order: 16-bit refcounts
            header.putInt(100, Qcow2Header.V3_HEADER_LENGTH);
            if (options.zstd()) {
                // qcow2.txt: a compression type other than zlib sets incompatible feature bit 3.
                header.putLong(72, Qcow2Header.INCOMPAT_COMPRESSION);
                header.put(104, (byte) 1);
            }
            at = Qcow2Header.V3_HEADER_LENGTH;
        }
        if (options.backingFile() != null) {
            if (options.backingFormat() != null) {
                byte[] format = options.backingFormat().getBytes(StandardCharsets.UTF_8);
                header.putInt(at, Qcow2Header.EXT_BACKING_FORMAT);
                header.putInt(at + 4, format.length);
                header.put(at + 8, format);
                at += 8 + ((format.length + 7) & ~7);
            }
            header.putInt(at, Qcow2Header.EXT_END);
            header.putInt(at + 4, 0);
            at += 8;
            byte[] name = options.backingFile().getBytes(StandardCharsets.UTF_8);
            if (name.length > 1023 || at + name.length > clusterSize) {
                throw new ImageException("Backing file name is too long: " + options.backingFile());
            }
            header.put(at, name);
            header.putLong(8, at);
            header.putInt(16, name.length);
        }

        ByteBuffer block = ByteBuffer.allocate(clusterSize);
        for (int cluster = 0; cluster < metadataClusters; cluster++) {
            block.putShort(cluster * 2, (short) 1);
        }
        ByteBuffer table = ByteBuffer.allocate((int) (tableClusters * clusterSize));
        table.putLong(0, refcountBlock);

        try (FileChannel file = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            Qcow2Io.writeFully(file, table, refcountTable);
            Qcow2Io.writeFully(file, block, refcountBlock);
            Qcow2Io.writeFully(file, ByteBuffer.allocate((int) (l1Clusters * clusterSize)), l1Table);
            file.force(true);
            // The header goes last: until it is written the file is not a qcow2 image at all.
            Qcow2Io.writeFully(file, header, 0);
            file.force(true);
        }
    }
}
