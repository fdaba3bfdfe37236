package dev.jvirt.block;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One open disk image, as QEMU's block drivers present it: reads, writes, flush, discard,
 * write-zeroes and an allocation map over a virtual disk of {@link #size()} bytes. virtio-blk,
 * jvirt-img and jvirtd only ever talk to this interface. Implementations are safe for
 * concurrent requests.
 */
public interface BlockDriver extends AutoCloseable {

    /** Virtual disk size in bytes. */
    long size();

    /** The format name as qemu-img prints it ("raw", "qcow2"). */
    String format();

    /** Fills {@code buffer[offset, offset+length)} from the disk at byte {@code position}. */
    void read(long position, byte[] buffer, int offset, int length) throws IOException;

    void write(long position, byte[] buffer, int offset, int length) throws IOException;

    /**
     * Fills {@code target} (typically a piece of guest RAM) from the disk at byte {@code position}.
     * Drivers that can read straight into native memory override this; the default goes through
     * a heap buffer.
     */
    default void read(long position, MemorySegment target) throws IOException {
        byte[] buffer = new byte[(int) Math.min(target.byteSize(), 256 * 1024)];
        for (long done = 0; done < target.byteSize(); ) {
            int piece = (int) Math.min(buffer.length, target.byteSize() - done);
            read(position + done, buffer, 0, piece);
            MemorySegment.copy(buffer, 0, target, ValueLayout.JAVA_BYTE, done, piece);
            done += piece;
        }
    }

    /** Writes {@code source} (typically a piece of guest RAM) to the disk at byte {@code position}. */
    default void write(long position, MemorySegment source) throws IOException {
        byte[] buffer = new byte[(int) Math.min(source.byteSize(), 256 * 1024)];
        for (long done = 0; done < source.byteSize(); ) {
            int piece = (int) Math.min(buffer.length, source.byteSize() - done);
            MemorySegment.copy(source, ValueLayout.JAVA_BYTE, done, buffer, 0, piece);
            write(position + done, buffer, 0, piece);
            done += piece;
        }
    }

    /** Makes every completed write durable (unless the cache mode is unsafe). */
    void flush() throws IOException;

    /** Makes the range read as zeroes, deallocating where the format can. */
    void writeZeroes(long position, long length) throws IOException;

    /** Hints that the range is no longer needed; it may read back as zeroes or old data. */
    default void discard(long position, long length) throws IOException {
        writeZeroes(position, length);
    }

    /** What the range starting at {@code position} is, for at most {@code length} bytes. */
    BlockStatus blockStatus(long position, long length) throws IOException;

    boolean isReadOnly();

    @Override
    void close() throws IOException;
}
