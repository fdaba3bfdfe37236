package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A qcow2 file opened for whole-image metadata changes (resize, emptying, a new backing file)
 * rather than guest I/O: the header, the active L1 table and the refcounts, with helpers to
 * allocate clusters at the end of the file, drop references and rewrite header fields. Callers
 * order their writes so that a crash leaves at worst leaked clusters.
 */
final class Qcow2File implements AutoCloseable {

    /** Opens the image file for reading and writing; a test substitutes one that "crashes" part-way. */
    interface ChannelOpener {
        FileChannel open(Path path) throws IOException;
    }

    private static final ChannelOpener FILE_SYSTEM = path -> FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    static volatile ChannelOpener opener = FILE_SYSTEM;

    final String name;
    final FileChannel file;
    final Qcow2Header header;
    final int clusterBits;
    final int clusterSize;
    final long[] l1;
    final RefcountTable refcounts;
    private long cursor;

    private Qcow2File(Path path, FileChannel file, Qcow2Header header) throws IOException {
        this.name = path.toString();
        this.file = file;
        this.header = header;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize();
        this.l1 = new long[header.l1Size];
        ByteBuffer bytes = ByteBuffer.allocate(header.l1Size * 8);
        Qcow2Io.readFully(file, bytes, header.l1TableOffset);
        for (int i = 0; i < l1.length; i++) {
            l1[i] = bytes.getLong(i * 8);
        }
        this.refcounts = new RefcountTable(file, name, header);
        this.cursor = Qcow2Header.divideRoundingUp(file.size(), clusterSize);
    }

    /** Opens {@code path} for writing; refuses images QEMU would not let us modify either. */
    static Qcow2File openForUpdate(Path path) throws IOException {
        Qcow2Header header;
        try {
            header = Qcow2Image.readHeader(path);
        } catch (NoSuchFileException e) {
            throw new ImageException("Could not open '" + path + "': No such file or directory");
        }
        if (header.corrupt()) {
            throw new ImageException(path + ": image is marked corrupt; repair it with check -r all first");
        }
        if (header.dirty()) {
            throw new ImageException(path + ": image is dirty (lazy refcounts were in use); repair it with check -r all first");
        }
        if (header.refcountOrder < 3) {
            throw new ImageException(path + ": writing images with " + header.refcountBits() + "-bit refcounts is not supported yet");
        }
        FileChannel channel = opener.open(path);
        try {
            return new Qcow2File(path, channel, header);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** A free cluster past everything in use. */
    long nextFreeCluster() throws IOException {
        while (refcounts.get(cursor) != 0) {
            cursor++;
        }
        return cursor++;
    }

    /** {@code count} free clusters in a row, counted (refcount 1) before anything points at them. */
    long allocate(int count) throws IOException {
        long first = nextFreeCluster();
        int have = 1;
        while (have < count) {
            long next = nextFreeCluster();
            if (next == first + have) {
                have++;
            } else {
                first = next;
                have = 1;
            }
        }
        refcounts.setRange(first, count, 1, this::nextFreeCluster);
        return first << clusterBits;
    }

    long[] readL2(long offset) throws IOException {
        checkCluster(offset, "L2 table");
        ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
        Qcow2Io.readFully(file, bytes, offset);
        long[] table = new long[header.l2Entries()];
        for (int i = 0; i < table.length; i++) {
            table[i] = bytes.getLong(i * 8);
        }
        return table;
    }

    void writeL2Entries(long l2Offset, long[] table, int from, int to) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate((to - from) * 8);
        for (int i = from; i < to; i++) {
            bytes.putLong((i - from) * 8, table[i]);
        }
        Qcow2Io.writeFully(file, bytes, l2Offset + 8L * from);
    }

    void writeL1Entries(int from, int to) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate((to - from) * 8);
        for (int i = from; i < to; i++) {
            bytes.putLong((i - from) * 8, l1[i]);
        }
        Qcow2Io.writeFully(file, bytes, header.l1TableOffset + 8L * from);
    }

    /** Drops one reference to the host cluster(s) an L2 entry points at. */
    void releaseData(long entry) throws IOException {
        if ((entry & Qcow2Image.COMPRESSED) != 0) {
            CompressedCluster where = CompressedCluster.decode(entry, clusterBits);
            for (long cluster = where.firstCluster(clusterBits); cluster <= where.lastCluster(clusterBits); cluster++) {
                decrement(cluster);
            }
        } else if ((entry & Qcow2Image.OFFSET_MASK) != 0) {
            decrement((entry & Qcow2Image.OFFSET_MASK) >>> clusterBits);
        }
    }

    /**
     * Drops the active L1's reference to an L2 table and, with it, one reference to each cluster
     * the table names: QEMU counts a data cluster once per L1 entry leading to it, so a table
     * still shared with a snapshot leaves its clusters one reference fewer too.
     */
    void releaseL2(long l2Offset) throws IOException {
        for (long entry : readL2(l2Offset)) {
            releaseData(entry);
        }
        decrement(l2Offset >>> clusterBits);
    }

    void decrement(long cluster) throws IOException {
        long count = refcounts.get(cluster);
        if (count > 0) {
            refcounts.set(cluster, count - 1, this::nextFreeCluster);
        }
    }

    /** Shortens the file to its last cluster still in use (the space freed by a shrink or an emptying). */
    void truncateToLastUsedCluster() throws IOException {
        long last = Qcow2Header.divideRoundingUp(file.size(), clusterSize) - 1;
        while (last > 0 && refcounts.get(last) == 0) {
            last--;
        }
        long end = (last + 1) << clusterBits;
        if (end < file.size()) {
            barrier();
            file.truncate(end);
        }
    }

    void barrier() throws IOException {
        file.force(false);
    }

    private void checkCluster(long offset, String what) throws IOException {
        if ((offset & (clusterSize - 1)) != 0 || offset < clusterSize || offset > file.size() - clusterSize) {
            throw new ImageException(name + ": " + what + " at 0x" + Long.toHexString(offset)
                    + " is misaligned, overlaps the header or lies past the end of the file");
        }
    }

    @Override
    public void close() throws IOException {
        try {
            file.force(true);
        } finally {
            file.close();
        }
    }
}
