package dev.jvirt.block;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A file opened with O_DIRECT, seen as an ordinary {@link FileChannel}: reads and writes of any
 * offset, length and buffer, so that the image drivers keep their byte-granular I/O (qcow2 writes
 * 8-byte L2 entries and 2-byte refcounts) while the host page cache is bypassed.
 *
 * <p>O_DIRECT only accepts offsets, lengths and memory addresses that are multiples of the file
 * system's block size. Every request therefore goes through an aligned bounce buffer covering the
 * blocks it touches; a write that covers only part of its first or last block first reads that
 * block (read-modify-write), as QEMU's block layer pads requests to its request alignment.
 *
 * <p>The file keeps its exact logical size: a write ending inside a block past the old end is
 * done as a whole block and the file is then cut back to the logical end, so qemu-img sees the
 * same length as after a buffered write. The size is tracked here rather than asked of the kernel
 * on every call, since qcow2 consults it on every cluster it reads.
 *
 * <p>Locking: a read-modify-write must not interleave with another write to a different part of
 * the same block, so partial-block writes, writes past the end and truncation take the exclusive
 * side of a lock; reads and whole-block writes inside the file take the shared side. Overlapping
 * concurrent writes are the caller's race, as on a real disk.
 */
public final class DirectFileChannel extends FileChannel {

    /** Largest span one bounce buffer carries; longer requests go in pieces of this size. */
    static final int BOUNCE_SIZE = 1 << 20;
    /** Idle bounce buffers kept for reuse, so steady I/O does not allocate direct memory. */
    private static final int POOLED_BOUNCES = 4;
    private static final int MAX_ALIGNMENT = 1 << 16;
    private static final byte[] ZEROES = new byte[MAX_ALIGNMENT];

    private final FileChannel file;
    private final int alignment;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final BlockingQueue<ByteBuffer> idleBounces = new ArrayBlockingQueue<>(POOLED_BOUNCES);
    private final Object positionLock = new Object();
    /** The logical end of the file; changed only under the write lock. */
    private volatile long size;
    private long position;

    /**
     * Wraps {@code file}, which must have been opened with {@code ExtendedOpenOption.DIRECT};
     * {@code alignment} is the block size its offsets, lengths and buffers must be multiples of.
     */
    public DirectFileChannel(FileChannel file, int alignment) throws IOException {
        if (!supportsAlignment(alignment)) {
            throw new IllegalArgumentException("O_DIRECT alignment " + alignment + " is not a power of two from 512 to 64 KiB");
        }
        this.file = file;
        this.alignment = alignment;
        this.size = file.size();
    }

    /** Whether requests can be rounded out to {@code alignment}: a power of two from 512 bytes to 64 KiB. */
    public static boolean supportsAlignment(long alignment) {
        return alignment >= 512 && alignment <= MAX_ALIGNMENT && Long.bitCount(alignment) == 1;
    }

    /** The block size every request to the file is rounded out to. */
    public int alignment() {
        return alignment;
    }

    // ---- positional I/O: what the image drivers use ------------------------------------------

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException("negative position " + position);
        }
        ensureOpen();
        if (!dst.hasRemaining()) {
            return 0;
        }
        lock.readLock().lock();
        try {
            long end = size;
            if (position >= end) {
                return -1;
            }
            int wanted = (int) Math.min(dst.remaining(), end - position);
            if (wanted == dst.remaining() && isAligned(dst, position)) {
                return file.read(dst, position);
            }
            return readThroughBounce(dst, position, wanted);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException("negative position " + position);
        }
        ensureOpen();
        int length = src.remaining();
        if (length == 0) {
            return 0;
        }
        if (position > Long.MAX_VALUE - length) {
            throw new IllegalArgumentException("write at " + position + "+" + length + " ends past the largest file offset");
        }
        if (isAligned(position) && isAligned(length)) {
            lock.readLock().lock();
            try {
                if (position + length <= size) {
                    return writeWholeBlocks(src, position, length);
                }
            } finally {
                lock.readLock().unlock();
            }
        }
        lock.writeLock().lock();
        try {
            return writeAnyRange(src, position, length);
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public long size() throws IOException {
        ensureOpen();
        return size;
    }

    @Override
    public FileChannel truncate(long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("negative size " + newSize);
        }
        ensureOpen();
        lock.writeLock().lock();
        try {
            if (newSize < size) {
                file.truncate(newSize);
                size = newSize;
            }
        } finally {
            lock.writeLock().unlock();
        }
        synchronized (positionLock) {
            position = Math.min(position, newSize);
        }
        return this;
    }

    @Override
    public void force(boolean metaData) throws IOException {
        file.force(metaData);
    }

    // ---- the aligned paths ----------------------------------------------------------------------

    private int readThroughBounce(ByteBuffer dst, long position, int wanted) throws IOException {
        ByteBuffer bounce = takeBounce();
        try {
            int done = 0;
            while (done < wanted) {
                long at = position + done;
                long blockStart = alignDown(at);
                int skip = (int) (at - blockStart);
                int chunk = Math.min(wanted - done, BOUNCE_SIZE - skip);
                int got = readBlocks(bounce, 0, blockStart, alignUp(skip + chunk));
                int usable = Math.min(chunk, got - skip);
                if (usable <= 0) {
                    break;
                }
                dst.put(dst.position(), bounce, skip, usable);
                dst.position(dst.position() + usable);
                done += usable;
                if (usable < chunk) {
                    break;
                }
            }
            return done == 0 ? -1 : done;
        } finally {
            returnBounce(bounce);
        }
    }

    /** Whole blocks inside the file: no neighbour bytes to preserve, so no read first. */
    private int writeWholeBlocks(ByteBuffer src, long position, int length) throws IOException {
        if (isAligned(src, position)) {
            int start = src.position();
            writeFully(src, position);
            return src.position() - start;
        }
        ByteBuffer bounce = takeBounce();
        try {
            int done = 0;
            while (done < length) {
                int chunk = Math.min(length - done, BOUNCE_SIZE);
                bounce.clear().put(0, src, src.position(), chunk);
                writeFully(bounce.limit(chunk), position + done);
                src.position(src.position() + chunk);
                done += chunk;
            }
            return done;
        } finally {
            returnBounce(bounce);
        }
    }

    /** Any range, under the write lock: partial blocks are read first, the end is kept exact. */
    private int writeAnyRange(ByteBuffer src, long position, int length) throws IOException {
        long oldSize = size;
        long end = position + length;
        long physicalEnd = oldSize;
        ByteBuffer bounce = takeBounce();
        try {
            int done = 0;
            while (done < length) {
                long at = position + done;
                long blockStart = alignDown(at);
                int skip = (int) (at - blockStart);
                int chunk = Math.min(length - done, BOUNCE_SIZE - skip);
                int span = alignUp(skip + chunk);
                if (skip != 0) {
                    readBlock(bounce, 0, blockStart, oldSize);
                }
                if ((skip + chunk) % alignment != 0 && (skip == 0 || span > alignment)) {
                    readBlock(bounce, span - alignment, blockStart + span - alignment, oldSize);
                }
                bounce.clear().put(skip, src, src.position(), chunk);
                bounce.limit(span);
                writeFully(bounce, blockStart);
                src.position(src.position() + chunk);
                physicalEnd = Math.max(physicalEnd, blockStart + span);
                done += chunk;
            }
        } finally {
            returnBounce(bounce);
        }
        long newSize = Math.max(oldSize, end);
        if (physicalEnd > newSize) {
            // The last block went out whole; cut the file back to its logical end.
            file.truncate(newSize);
        }
        size = newSize;
        return length;
    }

    /** Reads one block into {@code bounce} at {@code offset}, zeroes where the file has none. */
    private void readBlock(ByteBuffer bounce, int offset, long blockStart, long fileSize) throws IOException {
        int got = blockStart < fileSize ? readBlocks(bounce, offset, blockStart, alignment) : 0;
        bounce.clear().put(offset + got, ZEROES, 0, alignment - got);
    }

    /**
     * Reads {@code span} bytes (a multiple of the alignment) at {@code blockStart} into
     * {@code bounce} from {@code offset}; returns how many the file had, short only at its end.
     */
    private int readBlocks(ByteBuffer bounce, int offset, long blockStart, int span) throws IOException {
        ByteBuffer target = bounce.clear().position(offset).limit(offset + span);
        int got = 0;
        while (got < span && got % alignment == 0) {
            int n = file.read(target, blockStart + got);
            if (n <= 0) {
                break;
            }
            got += n;
        }
        return got;
    }

    private void writeFully(ByteBuffer source, long position) throws IOException {
        long at = position;
        while (source.hasRemaining()) {
            at += file.write(source, at);
        }
    }

    private ByteBuffer takeBounce() {
        ByteBuffer bounce = idleBounces.poll();
        if (bounce == null) {
            bounce = ByteBuffer.allocateDirect(BOUNCE_SIZE + alignment).alignedSlice(alignment).slice(0, BOUNCE_SIZE);
        }
        return bounce.clear();
    }

    private void returnBounce(ByteBuffer bounce) {
        idleBounces.offer(bounce);
    }

    /** A caller's own direct buffer that already meets O_DIRECT's rules needs no bounce. */
    private boolean isAligned(ByteBuffer buffer, long position) {
        return buffer.isDirect() && isAligned(position) && isAligned(buffer.remaining())
                && buffer.alignmentOffset(buffer.position(), alignment) == 0;
    }

    private boolean isAligned(long value) {
        return (value & (alignment - 1)) == 0;
    }

    private long alignDown(long value) {
        return value & -alignment;
    }

    private int alignUp(int value) {
        return (value + alignment - 1) & -alignment;
    }

    private void ensureOpen() throws IOException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
    }

    // ---- the rest of FileChannel, in terms of the positional calls -------------------------------

    @Override
    public int read(ByteBuffer dst) throws IOException {
        synchronized (positionLock) {
            int n = read(dst, position);
            if (n > 0) {
                position += n;
            }
            return n;
        }
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        long total = 0;
        for (int i = offset; i < offset + length; i++) {
            if (!dsts[i].hasRemaining()) {
                continue;
            }
            int n = read(dsts[i]);
            if (n < 0) {
                return total == 0 ? -1 : total;
            }
            total += n;
            if (dsts[i].hasRemaining()) {
                break;
            }
        }
        return total;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        synchronized (positionLock) {
            int n = write(src, position);
            position += n;
            return n;
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        long total = 0;
        for (int i = offset; i < offset + length; i++) {
            total += write(srcs[i]);
        }
        return total;
    }

    @Override
    public long position() throws IOException {
        ensureOpen();
        synchronized (positionLock) {
            return position;
        }
    }

    @Override
    public FileChannel position(long newPosition) throws IOException {
        if (newPosition < 0) {
            throw new IllegalArgumentException("negative position " + newPosition);
        }
        ensureOpen();
        synchronized (positionLock) {
            position = newPosition;
        }
        return this;
    }

    @Override
    public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(Math.max(count, 0), BOUNCE_SIZE));
        long done = 0;
        while (done < count) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), count - done));
            int n = read(buffer, position + done);
            if (n <= 0) {
                break;
            }
            buffer.flip();
            while (buffer.hasRemaining()) {
                target.write(buffer);
            }
            done += n;
        }
        return done;
    }

    @Override
    public long transferFrom(ReadableByteChannel source, long position, long count) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(Math.max(count, 0), BOUNCE_SIZE));
        long done = 0;
        while (done < count) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), count - done));
            int n = source.read(buffer);
            if (n <= 0) {
                break;
            }
            buffer.flip();
            write(buffer, position + done);
            done += n;
        }
        return done;
    }

    /** Mapping would put the file back in the page cache that O_DIRECT was asked to avoid. */
    @Override
    public MappedByteBuffer map(MapMode mode, long position, long size) {
        throw new UnsupportedOperationException("an image opened with cache=none (O_DIRECT) cannot be memory-mapped");
    }

    @Override
    public FileLock lock(long position, long size, boolean shared) throws IOException {
        return file.lock(position, size, shared);
    }

    @Override
    public FileLock tryLock(long position, long size, boolean shared) throws IOException {
        return file.tryLock(position, size, shared);
    }

    @Override
    protected void implCloseChannel() throws IOException {
        file.close();
        idleBounces.clear();
    }
}
