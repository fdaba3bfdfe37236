package dev.jvirt.block;

import java.io.IOException;

/**
 * The common part of the import readers (vmdk, vdi, vpc): jvirt reads these formats to move guests
 * from other hypervisors to KVM, but never writes them, so every modifying call is refused and
 * flush has nothing to do. Subclasses supply reads and the allocation map.
 */
public abstract class ReadOnlyImage implements BlockDriver {

    private final String format;
    private final long size;

    protected ReadOnlyImage(String format, long size) {
        this.format = format;
        this.size = size;
    }

    @Override
    public final long size() {
        return size;
    }

    @Override
    public final String format() {
        return format;
    }

    /** The allocation unit qemu-img info shows as cluster_size, or 0 where it shows none. */
    public long clusterSize() {
        return 0;
    }

    @Override
    public final void write(long position, byte[] buffer, int offset, int length) throws IOException {
        throw readOnly();
    }

    @Override
    public final void writeZeroes(long position, long length) throws IOException {
        throw readOnly();
    }

    @Override
    public final void discard(long position, long length) throws IOException {
        throw readOnly();
    }

    @Override
    public final void flush() {
        // nothing is ever written
    }

    @Override
    public final boolean isReadOnly() {
        return true;
    }

    private IOException readOnly() {
        return new IOException(format + " images are read-only in jvirt (they are imported, never written)");
    }

    protected final void checkRange(long position, long length) throws IOException {
        if (position < 0 || length < 0 || position > size - length) {
            throw new IOException("request at %d+%d is outside the %d-byte disk".formatted(position, length, size));
        }
    }
}
