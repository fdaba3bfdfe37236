package dev.jvirt.block.vmdk;

import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.ReadOnlyFile;

import java.io.IOException;

/** A FLAT (or VMFS) extent: the disk's bytes lie as they are in a file, from a sector offset on. */
final class FlatExtent implements VmdkExtent {

    private final ReadOnlyFile file;
    private final String type;
    private final long start;
    private final long size;

    private FlatExtent(ReadOnlyFile file, String type, long start, long size) {
        this.file = file;
        this.type = type;
        this.start = start;
        this.size = size;
    }

    /** {@code sectors} from sector {@code offset} of {@code file}, which must hold them all. */
    static FlatExtent open(ReadOnlyFile file, String type, long offsetSectors, long sectors) throws ImageException {
        long start = offsetSectors * 512;
        long size = sectors * 512;
        if (start > file.size() || size > file.size() - start) {
            throw new ImageException("%s: flat extent of %d bytes at offset %d does not fit in the file (%d bytes); is it truncated?"
                    .formatted(file.path(), size, start, file.size()));
        }
        return new FlatExtent(file, type, start, size);
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long position, byte[] buffer, int offset, int length) throws IOException {
        file.readFully(start + position, buffer, offset, length, "flat extent data");
    }

    @Override
    public BlockStatus blockStatus(long position, long length) {
        return new BlockStatus(Math.min(length, size - position), true, false, true, 0, start + position);
    }

    @Override
    public void check(long firstSector, java.util.List<String> errors) {
        if (start >= file.size()) {
            errors.add("ERROR: cluster offset for sector %d points after EOF".formatted(firstSector));
        }
    }

    @Override
    public VmdkImage.ExtentInfo info() {
        return new VmdkImage.ExtentInfo(file.path().toString(), type, size, 0, false);
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
