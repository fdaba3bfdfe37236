package dev.jvirt.block.vdi;

import dev.jvirt.block.ImageException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 512-byte VirtualBox VDI header, version 1.1, little-endian, as QEMU's block/vdi.c reads it:
 * a 64-byte text pre-header ("<<< Oracle VM VirtualBox Disk Image >>>" or similar, not
 * checked: it varies by writer), the signature at 0x40, then the geometry of the block map.
 */
record VdiHeader(int imageType, long blockMapOffset, long dataOffset, long diskSize, int blockSize, long blocksInImage,
                 long blocksAllocated) {

    static final int SIZE = 512;
    static final int SIGNATURE = 0xbeda107f;
    static final int SIGNATURE_AT = 0x40;
    static final int VERSION_1_1 = 0x00010001;
    static final int TYPE_DYNAMIC = 1;
    static final int TYPE_STATIC = 2;
    /** VirtualBox always writes 1 MiB blocks (QEMU accepts only those); any power of two from 4 KiB to 64 MiB is read. */
    static final int MIN_BLOCK = 4096;
    static final int MAX_BLOCK = 64 << 20;
    /** A 512 MiB block map in memory at most: 128 PiB of disk in 1 MiB blocks. */
    static final long MAX_BLOCKS = 1 << 27;

    static VdiHeader parse(String name, byte[] raw) throws ImageException {
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        int signature = b.getInt(SIGNATURE_AT);
        if (signature != SIGNATURE) {
            throw new ImageException("%s: Image not in VDI format (bad signature %08x)".formatted(name, signature));
        }
        int version = b.getInt(0x44);
        if (version != VERSION_1_1) {
            throw new ImageException("%s: unsupported VDI image (version %d.%d)".formatted(name, version >>> 16, version & 0xffff));
        }
        int imageType = b.getInt(0x4c);
        if (imageType != TYPE_DYNAMIC && imageType != TYPE_STATIC) {
            throw new ImageException("%s: unsupported VDI image type %d (only dynamic 1 and static 2 are read; undo and differencing images are not)"
                    .formatted(name, imageType));
        }
        long blockMapOffset = Integer.toUnsignedLong(b.getInt(0x154));
        long dataOffset = Integer.toUnsignedLong(b.getInt(0x158));
        if (blockMapOffset % 512 != 0) {
            throw new ImageException("%s: unsupported VDI image (unaligned block map offset 0x%x)".formatted(name, blockMapOffset));
        }
        if (dataOffset % 512 != 0) {
            throw new ImageException("%s: unsupported VDI image (unaligned data offset 0x%x)".formatted(name, dataOffset));
        }
        if (blockMapOffset < SIZE) {
            throw new ImageException("%s: VDI block map offset 0x%x overlaps the header".formatted(name, blockMapOffset));
        }
        int sectorSize = b.getInt(0x168);
        if (sectorSize != 512) {
            throw new ImageException("%s: unsupported VDI image (sector size %d is not 512)".formatted(name, Integer.toUnsignedLong(sectorSize)));
        }
        long diskSize = b.getLong(0x170);
        int blockSize = b.getInt(0x178);
        if (blockSize < MIN_BLOCK || blockSize > MAX_BLOCK || Integer.bitCount(blockSize) != 1) {
            throw new ImageException("%s: unsupported VDI block size %d (a power of two from %d to %d expected)"
                    .formatted(name, Integer.toUnsignedLong(blockSize), MIN_BLOCK, MAX_BLOCK));
        }
        int blockExtra = b.getInt(0x17c);
        if (blockExtra != 0) {
            throw new ImageException("%s: unsupported VDI image (%d bytes of extra data per block)".formatted(name, Integer.toUnsignedLong(blockExtra)));
        }
        long blocksInImage = Integer.toUnsignedLong(b.getInt(0x180));
        long blocksAllocated = Integer.toUnsignedLong(b.getInt(0x184));
        if (blocksInImage > MAX_BLOCKS) {
            throw new ImageException("%s: unsupported VDI image (too many blocks %d, max is %d)".formatted(name, blocksInImage, MAX_BLOCKS));
        }
        if (diskSize < 0 || Long.compareUnsigned(diskSize, blocksInImage * blockSize) > 0) {
            throw new ImageException("%s: unsupported VDI image (disk size %s, image bitmap has room for %d)"
                    .formatted(name, Long.toUnsignedString(diskSize), blocksInImage * blockSize));
        }
        if (!isNull(b, 0x1a8)) {
            throw new ImageException(name + ": unsupported VDI image (non-NULL link UUID)");
        }
        if (!isNull(b, 0x1b8)) {
            throw new ImageException(name + ": unsupported VDI image (non-NULL parent UUID)");
        }
        // 'VBoxManage convertfromraw' writes odd sizes; like QEMU, round up to whole sectors.
        long sectorAligned = (diskSize + 511) & ~511L;
        return new VdiHeader(imageType, blockMapOffset, dataOffset, sectorAligned, blockSize, blocksInImage, blocksAllocated);
    }

    private static boolean isNull(ByteBuffer b, int at) {
        return b.getLong(at) == 0 && b.getLong(at + 8) == 0;
    }
}
