package dev.jvirt.block.raw;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageFiles;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * A raw image: the file is the disk. Reads past the end of a short file return zeroes, as QEMU's
 * file driver does for sparse tails.
 */
public final class RawImage implements BlockDriver {

    private final FileChannel file;
    private final boolean readOnly;
    private final CacheMode cache;
    private final long size;

    private RawImage(FileChannel file, boolean readOnly, CacheMode cache) throws IOException {
        this.file = file;
        this.readOnly = readOnly;
        this.cache = cache;
        this.size = file.size();
    }

    public static RawImage open(Path path, boolean readOnly, CacheMode cache) throws IOException {
        FileChannel channel = ImageFiles.open(path, readOnly, cache);
        return new RawImage(channel, readOnly, cache);
    }

    /** Creates (or truncates) a raw image of {@code size} bytes; it stays sparse until written. */
    public static void create(Path path, long size) throws IOException {
        try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(path.toFile(), "rw")) {
            file.setLength(0);
            file.setLength(size);
        }
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public String format() {
        return "raw";
    }

    @Override
    public void read(long position, byte[] buffer, int offset, int length) throws IOException {
        checkRange(position, length);
        readFully(ByteBuffer.wrap(buffer, offset, length), position);
    }

    /** Reads straight into {@code target}: guest RAM is a direct buffer, so nothing is copied in Java. */
    @Override
    public void read(long position, MemorySegment target) throws IOException {
        checkRange(position, target.byteSize());
        readFully(target.asByteBuffer(), position);
    }

    private void readFully(ByteBuffer target, long position) throws IOException {
        long at = position;
        while (target.hasRemaining()) {
            int n = file.read(target, at);
            if (n < 0) {
                while (target.hasRemaining()) {
                    target.put((byte) 0);
                }
                break;
            }
            at += n;
        }
    }

    @Override
    public void write(long position, byte[] buffer, int offset, int length) throws IOException {
        checkWritable();
        checkRange(position, length);
        writeFully(ByteBuffer.wrap(buffer, offset, length), position);
    }

    @Override
    public void write(long position, MemorySegment source) throws IOException {
        checkWritable();
        checkRange(position, source.byteSize());
        writeFully(source.asByteBuffer(), position);
    }

    private void writeFully(ByteBuffer source, long position) throws IOException {
        long at = position;
        while (source.hasRemaining()) {
            at += file.write(source, at);
        }
        if (cache == CacheMode.WRITETHROUGH) {
            file.force(false);
        }
    }

    @Override
    public void flush() throws IOException {
        if (!readOnly && cache != CacheMode.UNSAFE) {
            file.force(false);
        }
    }

    @Override
    public void writeZeroes(long position, long length) throws IOException {
        checkWritable();
        checkRange(position, length);
        byte[] zeroes = new byte[(int) Math.min(length, 1 << 20)];
        for (long done = 0; done < length; done += zeroes.length) {
            int chunk = (int) Math.min(zeroes.length, length - done);
            write(position + done, zeroes, 0, chunk);
        }
    }

    @Override
    public BlockStatus blockStatus(long position, long length) throws IOException {
        checkRange(position, Math.min(length, size - position));
        // Without SEEK_DATA the whole file counts as data, as qemu-img reports for non-sparse files.
        return new BlockStatus(Math.min(length, size - position), true, false, true, 0, position);
    }

    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public void close() throws IOException {
        file.close();
    }

    private void checkRange(long position, long length) throws IOException {
        if (position < 0 || length < 0 || position > size - length) {
            throw new IOException("request at %d+%d is outside the %d-byte disk".formatted(position, length, size));
        }
    }

    private void checkWritable() throws IOException {
        if (readOnly) {
            throw new IOException("image is read-only");
        }
    }
}
