package dev.jvirt.block;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * An image file opened for reading only, as the import readers (vmdk, vdi, vpc) use it: every read
 * is checked against the file's size first, so a table or grain offset taken from a hostile image
 * can never make us read (or allocate) more than the file holds. The size is taken once at open:
 * the file is not ours to grow.
 */
public final class ReadOnlyFile implements AutoCloseable {

    private final Path path;
    private final FileChannel channel;
    private final long size;

    private ReadOnlyFile(Path path, FileChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        this.size = channel.size();
    }

    public static ReadOnlyFile open(Path path, CacheMode cache) throws IOException {
        try {
            return new ReadOnlyFile(path, ImageFiles.open(path, true, cache));
        } catch (NoSuchFileException e) {
            throw new ImageException("Could not open '" + path + "': No such file or directory");
        }
    }

    public Path path() {
        return path;
    }

    public long size() {
        return size;
    }

    /** Refuses unless {@code [offset, offset+length)} lies inside the file; {@code what} names the structure. */
    public void checkInside(long offset, long length, String what) throws ImageException {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new ImageException("%s: %s at offset 0x%x (%d bytes) lies beyond the end of the file (%d bytes); is the image truncated?"
                    .formatted(path, what, offset, length, size));
        }
    }

    /** Reads exactly {@code length} bytes at {@code offset}, refusing ranges outside the file. */
    public void readFully(long offset, byte[] buffer, int bufferOffset, int length, String what) throws IOException {
        checkInside(offset, length, what);
        ByteBuffer target = ByteBuffer.wrap(buffer, bufferOffset, length);
        long at = offset;
        while (target.hasRemaining()) {
            int n = channel.read(target, at);
            if (n < 0) {
                // The file shrank under us: another process truncated it.
                throw new ImageException("%s: %s at offset 0x%x: unexpected end of file".formatted(path, what, at));
            }
            at += n;
        }
    }

    /** A structure of {@code length} bytes at {@code offset}, as a buffer in {@code order}. */
    public ByteBuffer read(long offset, int length, ByteOrder order, String what) throws IOException {
        checkInside(offset, length, what);
        byte[] bytes = new byte[length];
        readFully(offset, bytes, 0, length, what);
        return ByteBuffer.wrap(bytes).order(order);
    }

    /** Reads what the file holds of {@code [offset, offset+length)}, the rest as zeroes (probing and short tails). */
    public int readPadded(long offset, byte[] buffer, int length) throws IOException {
        int available = (int) Math.max(0, Math.min(length, size - offset));
        if (available > 0) {
            readFully(offset, buffer, 0, available, "data");
        }
        java.util.Arrays.fill(buffer, available, length, (byte) 0);
        return available;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
