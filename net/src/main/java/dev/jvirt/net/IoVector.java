package dev.jvirt.net;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A reusable scatter-gather list over native memory (guest RAM, usually): a native
 * {@code struct iovec} array that readv/writev take as is, and the segments it describes, for
 * backends that copy instead. One thread fills and uses it at a time; refilling allocates nothing.
 */
public final class IoVector {

    /** Linux's IOV_MAX: readv and writev take no more entries than this. */
    public static final int MAX_ENTRIES = 1024;

    private static final long IOVEC_SIZE = 16;

    private final MemorySegment iovecs;
    private final MemorySegment[] segments;
    private int count;
    private long length;

    public IoVector(int capacity) {
        if (capacity < 1 || capacity > MAX_ENTRIES) {
            throw new IllegalArgumentException("capacity " + capacity + " is outside 1.." + MAX_ENTRIES);
        }
        this.iovecs = Arena.ofAuto().allocate(IOVEC_SIZE * capacity, 8);
        this.segments = new MemorySegment[capacity];
    }

    public IoVector() {
        this(MAX_ENTRIES);
    }

    public void clear() {
        for (int i = 0; i < count; i++) {
            segments[i] = null;
        }
        count = 0;
        length = 0;
    }

    /**
     * Appends a native segment; an empty one is skipped. Returns false, adding nothing, when
     * the vector is full.
     */
    public boolean add(MemorySegment segment) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException("an I/O vector holds native memory only");
        }
        if (segment.byteSize() == 0) {
            return true;
        }
        if (count == segments.length) {
            return false;
        }
        iovecs.set(ValueLayout.JAVA_LONG, count * IOVEC_SIZE, segment.address());
        iovecs.set(ValueLayout.JAVA_LONG, count * IOVEC_SIZE + 8, segment.byteSize());
        segments[count++] = segment;
        length += segment.byteSize();
        return true;
    }

    public int count() {
        return count;
    }

    public int capacity() {
        return segments.length;
    }

    /** Total bytes the entries describe. */
    public long length() {
        return length;
    }

    public MemorySegment segment(int index) {
        if (index < 0 || index >= count) {
            throw new IndexOutOfBoundsException("entry " + index + " of " + count);
        }
        return segments[index];
    }

    /** The native iovec array, {@link #count()} entries long, for readv/writev. */
    MemorySegment iovecs() {
        return iovecs;
    }

    /** Copies up to {@code max} bytes of the gathered stream, starting {@code offset} bytes in; returns how many there were. */
    public int read(long offset, byte[] into, int intoOffset, int max) {
        int done = 0;
        long skip = offset;
        for (int i = 0; i < count && done < max; i++) {
            MemorySegment segment = segments[i];
            if (skip >= segment.byteSize()) {
                skip -= segment.byteSize();
                continue;
            }
            int n = (int) Math.min(segment.byteSize() - skip, max - done);
            MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, skip, into, intoOffset + done, n);
            done += n;
            skip = 0;
        }
        return done;
    }

    /** Scatters up to {@code max} bytes of {@code from} into the stream, starting {@code offset} bytes in; returns how many fit. */
    public int write(long offset, byte[] from, int fromOffset, int max) {
        int done = 0;
        long skip = offset;
        for (int i = 0; i < count && done < max; i++) {
            MemorySegment segment = segments[i];
            if (skip >= segment.byteSize()) {
                skip -= segment.byteSize();
                continue;
            }
            int n = (int) Math.min(segment.byteSize() - skip, max - done);
            MemorySegment.copy(from, fromOffset + done, segment, ValueLayout.JAVA_BYTE, skip, n);
            done += n;
            skip = 0;
        }
        return done;
    }
}
