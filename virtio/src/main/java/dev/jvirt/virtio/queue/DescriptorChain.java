package dev.jvirt.virtio.queue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A request the driver made available: the device-readable buffers followed by the
 * device-writable ones (the order the specification requires and {@link Virtqueue} enforces).
 * Reads and writes address the chain as one stream per direction and never leave it.
 */
public final class DescriptorChain {

    private final int head;
    private final List<Descriptor> readable;
    private final List<Descriptor> writable;
    private final long readableLength;
    private final long writableLength;

    DescriptorChain(int head, List<Descriptor> readable, List<Descriptor> writable) {
        this.head = head;
        this.readable = List.copyOf(readable);
        this.writable = List.copyOf(writable);
        this.readableLength = total(readable);
        this.writableLength = total(writable);
    }

    private static long total(List<Descriptor> descriptors) {
        long sum = 0;
        for (Descriptor descriptor : descriptors) {
            sum += descriptor.length();
        }
        return sum;
    }

    /** The head descriptor's index: what {@link Virtqueue#addUsed} hands back to the driver. */
    public int head() {
        return head;
    }

    public List<Descriptor> readable() {
        return readable;
    }

    public List<Descriptor> writable() {
        return writable;
    }

    public long readableLength() {
        return readableLength;
    }

    public long writableLength() {
        return writableLength;
    }

    /**
     * Copies {@code length} bytes starting {@code offset} bytes into the readable part.
     *
     * @throws IndexOutOfBoundsException if the readable part is shorter; devices turn that into
     *         a request error, since the driver sent too little
     */
    public void read(long offset, byte[] into, int intoOffset, int length) {
        copy(readable, readableLength, offset, length, (segment, at, position, count) ->
                MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, at, into, intoOffset + position, count));
    }

    public byte[] read(long offset, int length) {
        byte[] data = new byte[length];
        read(offset, data, 0, length);
        return data;
    }

    /** Copies {@code length} bytes into the writable part, starting {@code offset} bytes into it. */
    public void write(long offset, byte[] from, int fromOffset, int length) {
        copy(writable, writableLength, offset, length, (segment, at, position, count) ->
                MemorySegment.copy(from, fromOffset + position, segment, ValueLayout.JAVA_BYTE, at, count));
    }

    /**
     * The guest memory of {@code length} bytes of the readable part starting {@code offset} bytes
     * into it, as slices in order, for I/O straight to or from guest RAM. Buffers that lie back to
     * back in host memory come as one slice, so a driver's scatter list of neighbouring pages costs
     * one system call.
     */
    public List<MemorySegment> readableSlices(long offset, long length) {
        return slices(readable, readableLength, offset, length);
    }

    /** Like {@link #readableSlices}, for the writable part. */
    public List<MemorySegment> writableSlices(long offset, long length) {
        return slices(writable, writableLength, offset, length);
    }

    private static List<MemorySegment> slices(List<Descriptor> part, long partLength, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > partLength) {
            throw new IndexOutOfBoundsException("bytes " + offset + ".." + (offset + length) + " of a " + partLength + "-byte buffer");
        }
        List<MemorySegment> slices = new ArrayList<>();
        long skip = offset;
        long remaining = length;
        for (Descriptor descriptor : part) {
            if (remaining == 0) {
                break;
            }
            if (skip >= descriptor.length()) {
                skip -= descriptor.length();
                continue;
            }
            MemorySegment slice = descriptor.memory().asSlice(skip, Math.min(descriptor.length() - skip, remaining));
            remaining -= slice.byteSize();
            skip = 0;
            MemorySegment previous = slices.isEmpty() ? null : slices.getLast();
            if (previous != null && previous.address() + previous.byteSize() == slice.address()) {
                // Both ranges are guest RAM the driver handed us; the joined view covers exactly them.
                slices.set(slices.size() - 1, previous.reinterpret(previous.byteSize() + slice.byteSize()));
            } else {
                slices.add(slice);
            }
        }
        return slices;
    }

    @FunctionalInterface
    private interface Piece {
        void copy(MemorySegment segment, long at, int position, int count);
    }

    private static void copy(List<Descriptor> part, long partLength, long offset, int length, Piece piece) {
        if (offset < 0 || length < 0 || offset + length > partLength) {
            throw new IndexOutOfBoundsException("bytes " + offset + ".." + (offset + length) + " of a " + partLength + "-byte buffer");
        }
        long skip = offset;
        int done = 0;
        for (Descriptor descriptor : part) {
            if (done == length) {
                break;
            }
            if (skip >= descriptor.length()) {
                skip -= descriptor.length();
                continue;
            }
            int count = (int) Math.min(descriptor.length() - skip, length - done);
            piece.copy(descriptor.memory(), skip, done, count);
            done += count;
            skip = 0;
        }
    }
}
