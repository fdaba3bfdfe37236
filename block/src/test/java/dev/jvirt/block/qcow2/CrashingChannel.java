package dev.jvirt.block.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A file channel that lets the first {@code writesBeforeCrash} modifications (writes and
 * truncations) through and fails every one after that, as if the machine had stopped there with
 * everything before it on disk. Counts the modifications it saw.
 */
final class CrashingChannel extends FileChannel {

    private final FileChannel file;
    private final long writesBeforeCrash;
    private long writes;

    CrashingChannel(FileChannel file, long writesBeforeCrash) {
        this.file = file;
        this.writesBeforeCrash = writesBeforeCrash;
    }

    long writes() {
        return writes;
    }

    private void modification() throws IOException {
        if (writes++ >= writesBeforeCrash) {
            throw new IOException("simulated crash before write " + writes);
        }
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
        modification();
        return file.write(src, position);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        modification();
        return file.write(src);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        modification();
        return file.write(srcs, offset, length);
    }

    @Override
    public FileChannel truncate(long size) throws IOException {
        modification();
        file.truncate(size);
        return this;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return file.read(dst);
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        return file.read(dsts, offset, length);
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        return file.read(dst, position);
    }

    @Override
    public long position() throws IOException {
        return file.position();
    }

    @Override
    public FileChannel position(long newPosition) throws IOException {
        file.position(newPosition);
        return this;
    }

    @Override
    public long size() throws IOException {
        return file.size();
    }

    @Override
    public void force(boolean metaData) throws IOException {
        file.force(metaData);
    }

    @Override
    public long transferTo(long position, long count, WritableByteChannel target) {
        throw new UnsupportedOperationException();
    }

    @Override
    public long transferFrom(ReadableByteChannel src, long position, long count) {
        throw new UnsupportedOperationException();
    }

    @Override
    public MappedByteBuffer map(MapMode mode, long position, long size) {
        throw new UnsupportedOperationException();
    }

    @Override
    public FileLock lock(long position, long size, boolean shared) {
        throw new UnsupportedOperationException();
    }

    @Override
    public FileLock tryLock(long position, long size, boolean shared) {
        throw new UnsupportedOperationException();
    }

    @Override
    protected void implCloseChannel() throws IOException {
        file.close();
    }
}
