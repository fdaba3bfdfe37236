package dev.jvirt.virtio.blk;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

/** A BlockDriver that forwards to another and counts flushes, for tests to observe or break the disk. */
class ForwardingDisk implements BlockDriver {

    final BlockDriver disk;
    final AtomicInteger flushes = new AtomicInteger();
    final AtomicInteger writes = new AtomicInteger();

    ForwardingDisk(BlockDriver disk) {
        this.disk = disk;
    }

    @Override
    public long size() {
        return disk.size();
    }

    @Override
    public String format() {
        return disk.format();
    }

    @Override
    public void read(long position, byte[] buffer, int offset, int length) throws IOException {
        disk.read(position, buffer, offset, length);
    }

    @Override
    public void write(long position, byte[] buffer, int offset, int length) throws IOException {
        writes.incrementAndGet();
        disk.write(position, buffer, offset, length);
    }

    @Override
    public void flush() throws IOException {
        flushes.incrementAndGet();
        disk.flush();
    }

    @Override
    public void writeZeroes(long position, long length) throws IOException {
        writes.incrementAndGet();
        disk.writeZeroes(position, length);
    }

    @Override
    public void discard(long position, long length) throws IOException {
        writes.incrementAndGet();
        disk.discard(position, length);
    }

    @Override
    public BlockStatus blockStatus(long position, long length) throws IOException {
        return disk.blockStatus(position, length);
    }

    @Override
    public boolean isReadOnly() {
        return disk.isReadOnly();
    }

    @Override
    public void close() throws IOException {
        disk.close();
    }
}
