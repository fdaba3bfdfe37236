package dev.jvirt.block.vmdk;

import dev.jvirt.block.BlockStatus;

import java.io.IOException;

/** One extent of a VMDK disk: a stretch of the virtual disk kept in one file, flat or sparse. */
sealed interface VmdkExtent extends AutoCloseable permits FlatExtent, SparseExtent {

    /** Bytes of the virtual disk this extent holds. */
    long size();

    /** Reads {@code [position, position+length)} of this extent (positions relative to its start). */
    void read(long position, byte[] buffer, int offset, int length) throws IOException;

    /** The run starting at {@code position} (relative to the extent), at most {@code length} bytes. */
    BlockStatus blockStatus(long position, long length) throws IOException;

    /**
     * qemu-img check for this extent: adds an error for every grain (or flat start) that lies at
     * or after the end of its file; {@code firstSector} is the extent's first sector on the disk.
     */
    void check(long firstSector, java.util.List<String> errors) throws IOException;

    /** What qemu-img info lists for the extent. */
    VmdkImage.ExtentInfo info();

    @Override
    void close() throws IOException;
}
