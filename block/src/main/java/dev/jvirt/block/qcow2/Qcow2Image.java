package dev.jvirt.block.qcow2;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.ImageFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A qcow2 image (QEMU docs/interop/qcow2.txt): guest clusters map through the L1 and L2 tables to
 * host clusters, counted in the refcount table. Reads follow the map (unallocated clusters come
 * from the backing file, zero clusters read as zeroes, compressed ones are inflated). Writes
 * allocate at the end of the file and order their updates so that a crash leaves at worst a
 * leaked cluster: refcount, then data, flush, then the L2 entry that points at it.
 */
public final class Qcow2Image implements BlockDriver {

    static final long OFFSET_MASK = 0x00FF_FFFF_FFFF_FE00L;
    static final long COPIED = 1L << 63;
    static final long COMPRESSED = 1L << 62;
    static final long ZERO = 1L;

    private final String name;
    private final FileChannel file;
    private final Qcow2Header header;
    private final BlockDriver backing;
    private final boolean readOnly;
    private final CacheMode cache;
    private final int clusterSize;
    private final int clusterBits;
    private final long[] l1;
    private final RefcountTable refcounts;
    /** False for a snapshot view: the file and the backing image belong to the image it was made from. */
    private final boolean ownsFile;
    private final Map<Long, long[]> l2Cache = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, long[]> eldest) {
            return size() > 512;
        }
    };
    private long nextFreeCluster;
    /** 0 when nothing is cached: a compressed entry always has bit 62 set (-1, all ones, is a possible hostile entry). */
    private long cachedCompressedEntry;
    /** Host byte after the last compressed cluster written, where the next may be packed in; 0 if none. */
    private long compressedFree;
    private byte[] cachedCompressedCluster;

    private Qcow2Image(String name, FileChannel file, Qcow2Header header, BlockDriver backing, boolean readOnly,
                       CacheMode cache, long l1Offset, int l1Size, boolean ownsFile) throws IOException {
        this.name = name;
        this.file = file;
        this.header = header;
        this.backing = backing;
        this.readOnly = readOnly;
        this.cache = cache;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize();
        this.ownsFile = ownsFile;
        this.l1 = new long[l1Size];
        ByteBuffer l1Bytes = ByteBuffer.allocate(l1Size * 8);
        Qcow2Io.readFully(file, l1Bytes, l1Offset);
        for (int i = 0; i < l1.length; i++) {
            l1[i] = l1Bytes.getLong(i * 8);
        }
        this.refcounts = new RefcountTable(file, name, header);
        this.nextFreeCluster = Qcow2Header.divideRoundingUp(file.size(), clusterSize);
    }

    /** Reads just the header, for probing and for tools that need the backing file name first. */
    public static Qcow2Header readHeader(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer first = ByteBuffer.allocate((int) Math.min(channel.size(), 1 << 21));
            Qcow2Io.readFully(channel, first, 0);
            first.flip();
            return Qcow2Header.parse(path.toString(), first.limit(first.capacity()), channel.size());
        }
    }

    /** Opens {@code path}; {@code backing} is its already opened backing image, or null. */
    public static Qcow2Image open(Path path, Qcow2Header header, BlockDriver backing, boolean readOnly, CacheMode cache)
            throws IOException {
        if (!readOnly && header.corrupt()) {
            throw new ImageException(path + ": image is marked corrupt; it can only be opened read-only (repair with check -r all)");
        }
        if (!readOnly && header.dirty()) {
            throw new ImageException(path + ": image is dirty (lazy refcounts were in use); repair it with check -r all first");
        }
        if (!readOnly && header.refcountOrder != 4 && header.refcountOrder < 3) {
            // Narrow refcounts are read fine; writing them is untested against QEMU, so refuse for now.
            throw new ImageException(path + ": writing images with " + header.refcountBits() + "-bit refcounts is not supported yet");
        }
        FileChannel channel = ImageFiles.open(path, readOnly, cache);
        try {
            return new Qcow2Image(path.toString(), channel, header, backing, readOnly, cache, header.l1TableOffset, header.l1Size, true);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    public Qcow2Header header() {
        return header;
    }

    public BlockDriver backing() {
        return backing;
    }

    @Override
    public long size() {
        return header.size;
    }

    @Override
    public String format() {
        return "qcow2";
    }

    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    // ---- reading ----------------------------------------------------------------------------

    @Override
    public synchronized void read(long position, byte[] buffer, int offset, int length) throws IOException {
        checkRange(position, length);
        while (length > 0) {
            int inCluster = (int) (position & (clusterSize - 1));
            int chunk = Math.min(length, clusterSize - inCluster);
            long entry = l2Entry(position);
            readCluster(entry, position, inCluster, buffer, offset, chunk);
            position += chunk;
            offset += chunk;
            length -= chunk;
        }
    }

    private void readCluster(long entry, long position, int inCluster, byte[] buffer, int offset, int length) throws IOException {
        if ((entry & COMPRESSED) != 0) {
            byte[] cluster = decompress(entry);
            System.arraycopy(cluster, inCluster, buffer, offset, length);
        } else if ((entry & ZERO) != 0 && header.version == 3) {
            Arrays.fill(buffer, offset, offset + length, (byte) 0);
        } else if ((entry & OFFSET_MASK) != 0) {
            long host = (entry & OFFSET_MASK) + inCluster;
            checkHostCluster(entry & OFFSET_MASK, "data cluster");
            Qcow2Io.readFully(file, ByteBuffer.wrap(buffer, offset, length), host);
        } else {
            readFromBacking(position, buffer, offset, length);
        }
    }

    private void readFromBacking(long position, byte[] buffer, int offset, int length) throws IOException {
        int fromBacking = backing == null ? 0 : (int) Math.max(0, Math.min(length, backing.size() - position));
        if (fromBacking > 0) {
            backing.read(position, buffer, offset, fromBacking);
        }
        Arrays.fill(buffer, offset + fromBacking, offset + length, (byte) 0);
    }

    private byte[] decompress(long entry) throws IOException {
        if (entry == cachedCompressedEntry) {
            return cachedCompressedCluster;
        }
        CompressedCluster where = CompressedCluster.decode(entry, clusterBits);
        long host = where.hostOffset();
        long length = where.length();
        long available = file.size() - host;
        if (host <= 0 || available <= 0) {
            throw new ImageException(name + ": compressed cluster at 0x" + Long.toHexString(host) + " is past the end of the file");
        }
        byte[] compressed = new byte[(int) Math.min(length, Math.min(available, 2L * clusterSize + 512))];
        Qcow2Io.readFully(file, ByteBuffer.wrap(compressed), host);
        byte[] cluster = new byte[clusterSize];
        if (header.compressionType == 1) {
            ZstdCluster.decompress(name + ": compressed cluster at 0x" + Long.toHexString(host), compressed, cluster);
        } else {
            inflate(host, compressed, cluster);
        }
        cachedCompressedEntry = entry;
        cachedCompressedCluster = cluster;
        return cluster;
    }

    private void inflate(long host, byte[] compressed, byte[] cluster) throws ImageException {
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(compressed);
            int produced = 0;
            while (produced < clusterSize && !inflater.finished()) {
                int n = inflater.inflate(cluster, produced, clusterSize - produced);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                produced += n;
            }
            if (produced != clusterSize) {
                throw new ImageException(name + ": compressed cluster at 0x" + Long.toHexString(host) + " inflates to "
                        + produced + " bytes, not " + clusterSize);
            }
        } catch (DataFormatException e) {
            throw new ImageException(name + ": compressed cluster at 0x" + Long.toHexString(host) + " is corrupt: " + e.getMessage());
        } finally {
            inflater.end();
        }
    }

    /** The L2 entry for the guest cluster holding {@code position}, 0 if its L2 table is absent. */
    private long l2Entry(long position) throws IOException {
        long clusterIndex = position >>> clusterBits;
        int l1Index = (int) (clusterIndex / header.l2Entries());
        if (l1Index >= l1.length) {
            return 0; // a snapshot's L1 table may be shorter than the disk is now
        }
        long l2Offset = l1[l1Index] & OFFSET_MASK;
        if (l2Offset == 0) {
            return 0;
        }
        return l2Table(l2Offset)[(int) (clusterIndex % header.l2Entries())];
    }

    private long[] l2Table(long offset) throws IOException {
        long[] table = l2Cache.get(offset);
        if (table == null) {
            checkHostCluster(offset, "L2 table");
            ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
            Qcow2Io.readFully(file, bytes, offset);
            table = new long[header.l2Entries()];
            for (int i = 0; i < table.length; i++) {
                table[i] = bytes.getLong(i * 8);
            }
            l2Cache.put(offset, table);
        }
        return table;
    }

    private void checkHostCluster(long offset, String what) throws IOException {
        if ((offset & (clusterSize - 1)) != 0 || offset < clusterSize || offset + clusterSize > Math.max(file.size(), nextFreeCluster << clusterBits)) {
            throw new ImageException(name + ": " + what + " at 0x" + Long.toHexString(offset) + " is misaligned, overlaps the header or lies past the end of the file");
        }
    }

    // ---- block status -------------------------------------------------------------------------

    @Override
    public synchronized BlockStatus blockStatus(long position, long length) throws IOException {
        checkRange(position, Math.min(length, size() - position));
        long end = Math.min(size(), position + length);
        BlockStatus first = clusterStatus(position);
        long run = Math.min(end, ((position >>> clusterBits) + 1) << clusterBits) - position;
        while (position + run < end) {
            BlockStatus next = clusterStatus(position + run);
            boolean contiguous = first.hostOffset() < 0 ? next.hostOffset() < 0 : next.hostOffset() == first.hostOffset() + run;
            if (next.data() != first.data() || next.zero() != first.zero() || next.allocated() != first.allocated()
                    || next.depth() != first.depth() || !contiguous) {
                break;
            }
            run += Math.min(end - position - run, clusterSize);
        }
        return new BlockStatus(run, first.data(), first.zero(), first.allocated(), first.depth(), first.hostOffset());
    }

    private BlockStatus clusterStatus(long position) throws IOException {
        long entry = l2Entry(position);
        int inCluster = (int) (position & (clusterSize - 1));
        if ((entry & COMPRESSED) != 0) {
            return new BlockStatus(clusterSize - inCluster, true, false, true, 0, -1);
        }
        if ((entry & ZERO) != 0 && header.version == 3) {
            return new BlockStatus(clusterSize - inCluster, false, true, true, 0, -1);
        }
        if ((entry & OFFSET_MASK) != 0) {
            return new BlockStatus(clusterSize - inCluster, true, false, true, 0, (entry & OFFSET_MASK) + inCluster);
        }
        if (backing != null && position < backing.size()) {
            BlockStatus below = backing.blockStatus(position, clusterSize - inCluster);
            return new BlockStatus(clusterSize - inCluster, below.data(), below.zero(), below.allocated(), below.depth() + 1,
                    below.hostOffset());
        }
        // Nowhere in the chain: qemu-img reports the bottom layer's depth.
        return new BlockStatus(clusterSize - inCluster, false, true, false, backing == null ? 0 : 1, -1);
    }

    // ---- writing ------------------------------------------------------------------------------

    @Override
    public synchronized void write(long position, byte[] buffer, int offset, int length) throws IOException {
        checkWritable();
        checkRange(position, length);
        while (length > 0) {
            int inCluster = (int) (position & (clusterSize - 1));
            int written = inCluster == 0 ? writeNewClusters(position, buffer, offset, length) : 0;
            if (written == 0) {
                written = Math.min(length, clusterSize - inCluster);
                writeCluster(position, inCluster, buffer, offset, written);
            }
            position += written;
            offset += written;
            length -= written;
        }
        if (cache == CacheMode.WRITETHROUGH) {
            file.force(false);
        }
    }

    private void writeCluster(long position, int inCluster, byte[] buffer, int offset, int length) throws IOException {
        long clusterIndex = position >>> clusterBits;
        long[] l2 = writableL2(clusterIndex);
        int l2Index = (int) (clusterIndex % header.l2Entries());
        long entry = l2[l2Index];
        if ((entry & COPIED) != 0 && (entry & COMPRESSED) == 0 && (entry & ZERO) == 0 && (entry & OFFSET_MASK) != 0) {
            Qcow2Io.writeFully(file, ByteBuffer.wrap(buffer, offset, length), (entry & OFFSET_MASK) + inCluster);
            return;
        }
        // Copy on write: build the whole new cluster from the old content and the new bytes.
        byte[] cluster = new byte[clusterSize];
        if (length < clusterSize) {
            readCluster(entry, position - inCluster, 0, cluster, 0, clusterSize);
        }
        System.arraycopy(buffer, offset, cluster, inCluster, length);
        long host = allocateCluster();
        Qcow2Io.writeFully(file, ByteBuffer.wrap(cluster), host);
        metadataBarrier();
        setL2Entry(clusterIndex, l2, l2Index, host | COPIED);
        release(entry);
    }

    /**
     * Writes whole guest clusters that need new host clusters, as many in a row as one L2 table and
     * the buffer allow, with one data write, one refcount write and one L2 write (in that order, the
     * data flushed before the L2 entries point at it). Returns the bytes written; 0 when the first
     * cluster is not such a cluster, so the caller takes the one-cluster path.
     */
    private int writeNewClusters(long position, byte[] buffer, int offset, int length) throws IOException {
        long firstCluster = position >>> clusterBits;
        int l2Entries = header.l2Entries();
        int maxClusters = (int) Math.min(length / clusterSize, l2Entries - firstCluster % l2Entries);
        if (maxClusters < 2) {
            return 0;
        }
        long[] l2 = writableL2(firstCluster);
        int firstIndex = (int) (firstCluster % l2Entries);
        int count = 0;
        while (count < maxClusters && needsAllocation(l2[firstIndex + count])) {
            count++;
        }
        if (count < 2) {
            return 0;
        }
        long hostStart = allocateContiguous(count);
        Qcow2Io.writeFully(file, ByteBuffer.wrap(buffer, offset, count * clusterSize), hostStart);
        metadataBarrier();
        long[] old = Arrays.copyOfRange(l2, firstIndex, firstIndex + count);
        ByteBuffer entries = ByteBuffer.allocate(count * 8);
        for (int i = 0; i < count; i++) {
            l2[firstIndex + i] = (hostStart + ((long) i << clusterBits)) | COPIED;
            entries.putLong(i * 8, l2[firstIndex + i]);
        }
        long l2Offset = l1[(int) (firstCluster / l2Entries)] & OFFSET_MASK;
        Qcow2Io.writeFully(file, entries, l2Offset + 8L * firstIndex);
        for (long entry : old) {
            release(entry);
        }
        return count * clusterSize;
    }

    private static boolean needsAllocation(long entry) {
        return (entry & COPIED) == 0 || (entry & COMPRESSED) != 0 || (entry & ZERO) != 0 || (entry & OFFSET_MASK) == 0;
    }

    /**
     * Takes {@code count} free clusters in a row at the end of the file and counts them. If a
     * refcount block sits in the way, the run starts again after it; skipped clusters keep refcount
     * 0 and are simply unused space.
     */
    private long allocateContiguous(int count) throws IOException {
        long first = nextFreeClusterIndex();
        int have = 1;
        while (have < count) {
            long next = nextFreeClusterIndex();
            if (next == first + have) {
                have++;
            } else {
                first = next;
                have = 1;
            }
        }
        refcounts.setRange(first, count, 1, this::nextFreeClusterIndex);
        return first << clusterBits;
    }

    /** The L2 table for a guest cluster, made private to this image (allocated or copied) if needed. */
    private long[] writableL2(long clusterIndex) throws IOException {
        int l1Index = (int) (clusterIndex / header.l2Entries());
        long l1Entry = l1[l1Index];
        if ((l1Entry & COPIED) != 0) {
            return l2Table(l1Entry & OFFSET_MASK);
        }
        long oldOffset = l1Entry & OFFSET_MASK;
        long[] table = oldOffset == 0 ? new long[header.l2Entries()] : l2Table(oldOffset).clone();
        long newOffset = allocateCluster();
        ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
        for (int i = 0; i < table.length; i++) {
            bytes.putLong(i * 8, table[i]);
        }
        Qcow2Io.writeFully(file, bytes, newOffset);
        l2Cache.put(newOffset, table);
        metadataBarrier();
        l1[l1Index] = newOffset | COPIED;
        Qcow2Io.writeFully(file, ByteBuffer.allocate(8).putLong(0, l1[l1Index]), header.l1TableOffset + 8L * l1Index);
        metadataBarrier();
        if (oldOffset != 0) {
            refcounts.set(oldOffset >>> clusterBits, refcounts.get(oldOffset >>> clusterBits) - 1, this::nextFreeClusterIndex);
        }
        return table;
    }

    private void setL2Entry(long clusterIndex, long[] l2, int l2Index, long entry) throws IOException {
        l2[l2Index] = entry;
        int l1Index = (int) (clusterIndex / header.l2Entries());
        long l2Offset = l1[l1Index] & OFFSET_MASK;
        Qcow2Io.writeFully(file, ByteBuffer.allocate(8).putLong(0, entry), l2Offset + 8L * l2Index);
    }

    /** Drops this image's reference to the host cluster(s) an old L2 entry pointed at (leaks if we crash first). */
    private void release(long entry) throws IOException {
        if ((entry & COMPRESSED) != 0) {
            CompressedCluster where = CompressedCluster.decode(entry, clusterBits);
            for (long cluster = where.firstCluster(clusterBits); cluster <= where.lastCluster(clusterBits); cluster++) {
                decrement(cluster);
            }
        } else if ((entry & OFFSET_MASK) != 0) {
            decrement((entry & OFFSET_MASK) >>> clusterBits);
        }
    }

    private void decrement(long cluster) throws IOException {
        long count = refcounts.get(cluster);
        if (count > 0) {
            refcounts.set(cluster, count - 1, this::nextFreeClusterIndex);
        }
    }

    /** Takes a free cluster at the end of the file and counts it before anything points at it. */
    private long allocateCluster() throws IOException {
        long cluster = nextFreeClusterIndex();
        refcounts.set(cluster, 1, this::nextFreeClusterIndex);
        return cluster << clusterBits;
    }

    private long nextFreeClusterIndex() throws IOException {
        while (refcounts.get(nextFreeCluster) != 0) {
            nextFreeCluster++;
        }
        return nextFreeCluster++;
    }

    /** Orders metadata after what it describes; skipped with cache=unsafe, as in QEMU. */
    private void metadataBarrier() throws IOException {
        if (cache != CacheMode.UNSAFE) {
            file.force(false);
        }
    }

    /**
     * Writes one whole guest cluster (the last may be short: it is padded with zeroes) compressed,
     * as qemu-img convert -c does: when it compresses to less than a cluster, the compressed bytes are
     * packed after the previous compressed cluster and the L2 entry gets the compressed descriptor;
     * otherwise the cluster is written normally. Returns whether it was stored compressed.
     */
    public synchronized boolean writeCompressed(long position, byte[] buffer, int offset, int length) throws IOException {
        checkWritable();
        checkRange(position, length);
        if ((position & (clusterSize - 1)) != 0 || (length != clusterSize && position + length != size())) {
            throw new IOException("compressed writes must cover whole clusters (at " + position + "+" + length + ")");
        }
        byte[] cluster = new byte[clusterSize];
        System.arraycopy(buffer, offset, cluster, 0, length);
        byte[] compressed = compress(cluster);
        if (compressed == null) {
            write(position, buffer, offset, length);
            return false;
        }
        long clusterIndex = position >>> clusterBits;
        long[] l2 = writableL2(clusterIndex);
        int l2Index = (int) (clusterIndex % header.l2Entries());
        long old = l2[l2Index];
        long host = allocateCompressedBytes(compressed.length);
        Qcow2Io.writeFully(file, ByteBuffer.wrap(compressed), host);
        metadataBarrier();
        long extraSectors = ((host + compressed.length - 1) >>> 9) - (host >>> 9);
        setL2Entry(clusterIndex, l2, l2Index, COMPRESSED | (extraSectors << (62 - (clusterBits - 8))) | host);
        release(old);
        if (cache == CacheMode.WRITETHROUGH) {
            file.force(false);
        }
        return true;
    }

    private byte[] compress(byte[] cluster) throws IOException {
        return header.compressionType == 1 ? ZstdCluster.compress(cluster, clusterSize) : ClusterCompressor.deflate(cluster, clusterSize);
    }

    /**
     * Finds room for {@code length} (less than a cluster) compressed bytes, packed right after the
     * previous ones as QEMU's qcow2_alloc_bytes does. Every host cluster the bytes touch gains a
     * reference, so a cluster shared by several compressed clusters is counted once for each; the
     * references are taken before the data is written.
     */
    private long allocateCompressedBytes(int length) throws IOException {
        long start = compressedFree;
        if (start != 0 && (start & (clusterSize - 1)) != 0) {
            long current = start >>> clusterBits;
            if ((start & (clusterSize - 1)) + length <= clusterSize) {
                increment(current);
            } else {
                long next = allocateCluster();
                if (next == (current + 1) << clusterBits) {
                    increment(current);
                } else {
                    start = next; // a refcount block took the neighbour: start afresh in the new cluster
                }
            }
        } else {
            start = allocateCluster();
        }
        compressedFree = start + length;
        return start;
    }

    private void increment(long cluster) throws IOException {
        refcounts.set(cluster, refcounts.get(cluster) + 1, this::nextFreeClusterIndex);
    }

    @Override
    public synchronized void writeZeroes(long position, long length) throws IOException {
        checkWritable();
        checkRange(position, length);
        byte[] zeroes = new byte[clusterSize];
        while (length > 0) {
            int inCluster = (int) (position & (clusterSize - 1));
            int chunk = (int) Math.min(length, clusterSize - inCluster);
            long clusterIndex = position >>> clusterBits;
            if (chunk == clusterSize && header.version == 3) {
                long[] l2 = writableL2(clusterIndex);
                int l2Index = (int) (clusterIndex % header.l2Entries());
                long old = l2[l2Index];
                setL2Entry(clusterIndex, l2, l2Index, ZERO);
                release(old);
            } else {
                writeCluster(position, inCluster, zeroes, 0, chunk);
            }
            position += chunk;
            length -= chunk;
        }
    }

    @Override
    public synchronized void flush() throws IOException {
        if (!readOnly && cache != CacheMode.UNSAFE) {
            file.force(true);
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (!ownsFile) {
            return;
        }
        try {
            if (!readOnly && cache != CacheMode.UNSAFE) {
                file.force(true);
            }
        } finally {
            file.close();
            if (backing != null) {
                backing.close();
            }
        }
    }

    private void checkRange(long position, long length) throws IOException {
        if (position < 0 || length < 0 || position > size() - length) {
            throw new IOException("request at %d+%d is outside the %d-byte disk".formatted(position, length, size()));
        }
    }

    private void checkWritable() throws IOException {
        if (readOnly) {
            throw new IOException(name + ": image is read-only");
        }
    }

    // ---- for jvirt-img --------------------------------------------------------------------------

    /** The internal snapshots, read from the snapshot table now (hostile tables are refused with the reason). */
    public synchronized java.util.List<Qcow2Snapshot> snapshots() throws IOException {
        return Qcow2SnapshotTable.read(file, header, name).snapshots();
    }

    /**
     * Internal snapshot {@code snapshot} read-only, as qemu-img convert -l reads it (QEMU's
     * qcow2_snapshot_load_tmp): the snapshot's L1 table behind the image's current virtual size,
     * through this image's file and backing image. Closing the view leaves this image open.
     */
    public Qcow2Image snapshotView(Qcow2Snapshot snapshot) throws IOException {
        return new Qcow2Image(name, file, header, backing, true, cache, snapshot.l1TableOffset(), snapshot.l1Size(), false);
    }

    /** Bytes the image file occupies on disk. */
    public long fileLength() throws IOException {
        return file.size();
    }

    FileChannel channel() {
        return file;
    }

    String name() {
        return name;
    }

    RefcountTable refcounts() {
        return refcounts;
    }

    long[] l1Table() {
        return l1.clone();
    }

    long[] readL2(long offset) throws IOException {
        return l2Table(offset).clone();
    }
}
