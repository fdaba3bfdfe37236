package dev.jvirt.block.vpc;

import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.ReadOnlyFile;
import dev.jvirt.block.ReadOnlyImage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A VHD image (Virtual PC, Hyper-V, Azure; qemu-img calls the format "vpc"), read-only.
 *
 * <p>Fixed disks are the raw data followed by the footer. Dynamic disks are footer copy, dynamic
 * header, block allocation table (BAT: one big-endian sector number a block, 0xffffffff for a
 * block never written), then blocks, each a sector bitmap followed by the data. Differencing
 * disks (a parent image) are refused.
 *
 * <p>Sector bitmaps: QEMU ignores them on reads (it sets every bit when it allocates a block, so
 * for its own images they say nothing); the VHD specification says a clear bit is a sector never
 * written, which reads as zeroes in a dynamic disk. We follow the specification, so sectors that
 * Hyper-V or Virtual PC never wrote are holes for convert and map. For qemu-img's images (every
 * bit set) both readings agree byte for byte.
 */
public final class VpcImage extends ReadOnlyImage {

    private static final int UNALLOCATED = 0xffffffff;
    private static final int SECTOR = 512;
    /** A 512 MiB table in memory at most (2040 GiB, the format's maximum, in 16 KiB blocks). */
    private static final long MAX_BLOCKS = 1 << 27;

    private final ReadOnlyFile file;
    private final VpcFooter footer;
    /** Null for a fixed disk. */
    private final VpcDynamicHeader dynamic;
    private final int[] bat;
    private final BitmapCache bitmaps;

    private VpcImage(ReadOnlyFile file, VpcFooter footer, VpcDynamicHeader dynamic, int[] bat) {
        super("vpc", footer.virtualSize());
        this.file = file;
        this.footer = footer;
        this.dynamic = dynamic;
        this.bat = bat;
        this.bitmaps = dynamic == null ? null : new BitmapCache(dynamic.bitmapSize());
    }

    /** Opens {@code path} read-only; every header field is checked against the file before it is used. */
    public static VpcImage open(Path path, CacheMode cache) throws IOException {
        ReadOnlyFile file = ReadOnlyFile.open(path, cache);
        try {
            return open(file);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static VpcImage open(ReadOnlyFile file) throws IOException {
        String name = file.path().toString();
        if (file.size() < VpcFooter.SIZE) {
            throw new ImageException(name + ": file too small for a VHD footer (" + file.size() + " bytes)");
        }
        byte[] head = new byte[VpcFooter.SIZE];
        file.readFully(0, head, 0, head.length, "VHD footer copy");
        if (VpcFooter.hasCookie(head, 0)) {
            VpcFooter footer = VpcFooter.parse(name, head);
            requireType(name, footer, VpcFooter.DYNAMIC, "a footer copy at offset 0");
            return openDynamic(file, footer);
        }
        // A fixed disk keeps its only footer in the last 512 bytes.
        byte[] tail = new byte[VpcFooter.SIZE];
        file.readFully(file.size() - VpcFooter.SIZE, tail, 0, tail.length, "VHD footer");
        VpcFooter footer = VpcFooter.parse(name, tail);
        requireType(name, footer, VpcFooter.FIXED, "no footer copy at offset 0");
        long dataBytes = file.size() - VpcFooter.SIZE;
        if (footer.virtualSize() > dataBytes) {
            throw new ImageException("%s: fixed VHD of %d bytes holds only %d bytes of data; is the image truncated?"
                    .formatted(name, footer.virtualSize(), dataBytes));
        }
        return new VpcImage(file, footer, null, null);
    }

    private static void requireType(String name, VpcFooter footer, int expected, String layout) throws ImageException {
        if (footer.diskType() == VpcFooter.DIFFERENCING) {
            throw new ImageException(name + ": differencing VHD images (with a parent disk) are not supported");
        }
        if (footer.diskType() != expected) {
            throw new ImageException("%s: VHD disk type %d does not match its layout (%s); expected type %d"
                    .formatted(name, footer.diskType(), layout, expected));
        }
    }

    private static VpcImage openDynamic(ReadOnlyFile file, VpcFooter footer) throws IOException {
        String name = file.path().toString();
        file.checkInside(footer.dataOffset(), VpcDynamicHeader.SIZE, "dynamic VHD header");
        byte[] raw = new byte[VpcDynamicHeader.SIZE];
        file.readFully(footer.dataOffset(), raw, 0, raw.length, "dynamic VHD header");
        VpcDynamicHeader header = VpcDynamicHeader.parse(name, raw);
        long blockSize = header.blockSize();
        long blocksNeeded = (footer.virtualSize() + blockSize - 1) / blockSize;
        long entries = Integer.toUnsignedLong(header.maxTableEntries());
        if (entries < blocksNeeded) {
            throw new ImageException("%s: VHD block allocation table has %d entries, a %d-byte disk needs %d"
                    .formatted(name, entries, footer.virtualSize(), blocksNeeded));
        }
        if (blocksNeeded > MAX_BLOCKS) {
            throw new ImageException("%s: a VHD of %d blocks is more than the %d supported".formatted(name, blocksNeeded, MAX_BLOCKS));
        }
        // Only the entries the disk uses are read; the table must still lie inside the file.
        file.checkInside(header.tableOffset(), entries * 4, "VHD block allocation table");
        ByteBuffer table = file.read(header.tableOffset(), (int) (blocksNeeded * 4), ByteOrder.BIG_ENDIAN,
                "VHD block allocation table");
        int[] bat = new int[(int) blocksNeeded];
        long blockSpan = header.bitmapSize() + blockSize;
        for (int i = 0; i < bat.length; i++) {
            bat[i] = table.getInt(i * 4);
            if (bat[i] != UNALLOCATED) {
                long start = Integer.toUnsignedLong(bat[i]) * SECTOR;
                if (start < SECTOR || start > file.size() || blockSpan > file.size() - start) {
                    throw new ImageException("%s: VHD block %d at offset 0x%x (%d bytes with its bitmap) lies beyond the end of the file (%d bytes); is the image truncated?"
                            .formatted(name, i, start, blockSpan, file.size()));
                }
            }
        }
        return new VpcImage(file, footer, header, bat);
    }

    public boolean isFixed() {
        return dynamic == null;
    }

    @Override
    public long clusterSize() {
        return dynamic == null ? 0 : dynamic.blockSize();
    }

    @Override
    public void read(long position, byte[] buffer, int offset, int length) throws IOException {
        checkRange(position, length);
        while (length > 0) {
            BlockStatus run = blockStatus(position, length);
            int piece = (int) run.length();
            if (run.data()) {
                file.readFully(run.hostOffset(), buffer, offset, piece, "VHD data");
            } else {
                Arrays.fill(buffer, offset, offset + piece, (byte) 0);
            }
            position += piece;
            offset += piece;
            length -= piece;
        }
    }

    /**
     * One run of equal state: the whole request for a fixed disk; for a dynamic disk, within one
     * block, a run of sectors whose bitmap bits agree (or the whole block if it is unallocated).
     */
    @Override
    public BlockStatus blockStatus(long position, long length) throws IOException {
        checkRange(position, Math.min(length, size() - position));
        long request = Math.min(length, size() - position);
        if (dynamic == null) {
            return new BlockStatus(request, true, false, true, 0, position);
        }
        int blockSize = dynamic.blockSize();
        int index = (int) (position / blockSize);
        long inBlock = position % blockSize;
        long inThisBlock = Math.min(request, blockSize - inBlock);
        if (bat[index] == UNALLOCATED) {
            return new BlockStatus(inThisBlock, false, true, false, 0, -1);
        }
        long bitmapOffset = Integer.toUnsignedLong(bat[index]) * SECTOR;
        byte[] bitmap = bitmaps.get(bitmapOffset);
        int firstSector = (int) (inBlock / SECTOR);
        boolean written = bitSet(bitmap, firstSector);
        int lastSector = (int) ((inBlock + inThisBlock - 1) / SECTOR);
        int sector = firstSector + 1;
        while (sector <= lastSector && bitSet(bitmap, sector) == written) {
            sector++;
        }
        long runLength = Math.min(inThisBlock, (long) sector * SECTOR - inBlock);
        if (!written) {
            return new BlockStatus(runLength, false, true, false, 0, -1);
        }
        return new BlockStatus(runLength, true, false, true, 0, bitmapOffset + dynamic.bitmapSize() + inBlock);
    }

    /** Sector 0 of a block is the most significant bit of the bitmap's first byte. */
    private static boolean bitSet(byte[] bitmap, int sector) {
        return (bitmap[sector >>> 3] & (0x80 >>> (sector & 7))) != 0;
    }

    @Override
    public void close() throws IOException {
        file.close();
    }

    /** The sector bitmaps of the last few blocks read: sequential reads ask for the same one many times. */
    private final class BitmapCache {
        private static final int ENTRIES = 16;
        private final int bitmapSize;
        private final long[] offsets = new long[ENTRIES];
        private final byte[][] bitmaps = new byte[ENTRIES][];
        private int next;

        BitmapCache(int bitmapSize) {
            this.bitmapSize = bitmapSize;
            Arrays.fill(offsets, -1);
        }

        synchronized byte[] get(long offset) throws IOException {
            for (int i = 0; i < ENTRIES; i++) {
                if (offsets[i] == offset) {
                    return bitmaps[i];
                }
            }
            byte[] bitmap = new byte[bitmapSize];
            file.readFully(offset, bitmap, 0, bitmapSize, "VHD sector bitmap");
            offsets[next] = offset;
            bitmaps[next] = bitmap;
            next = (next + 1) % ENTRIES;
            return bitmap;
        }
    }
}
