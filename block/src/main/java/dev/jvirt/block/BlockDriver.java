package dev.jvirt.block;

import java.io.IOException;

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
