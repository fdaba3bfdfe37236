package dev.jvirt.block.vdi;

import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.ReadOnlyFile;
import dev.jvirt.block.ReadOnlyImage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A VirtualBox VDI image (static or dynamic), read-only. The block map gives, for every block of
 * the disk, the index of its data block after the data offset; 0xffffffff is a block never
 * written and 0xfffffffe one discarded, and both read as zeroes (as in QEMU, whose map shows them
 * as present zero runs).
 */
public final class VdiImage extends ReadOnlyImage {

    private static final int UNALLOCATED = 0xffffffff;
    private static final int DISCARDED = 0xfffffffe;

    private final ReadOnlyFile file;
    private final VdiHeader header;
    private final int[] blockMap;

    private VdiImage(ReadOnlyFile file, VdiHeader header, int[] blockMap) {
        super("vdi", header.diskSize());
        this.file = file;
        this.header = header;
        this.blockMap = blockMap;
    }

    /** Opens {@code path} read-only; the header and every block map entry are checked against the file. */
    public static VdiImage open(Path path, CacheMode cache) throws IOException {
        ReadOnlyFile file = ReadOnlyFile.open(path, cache);
        try {
            return open(file);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static VdiImage open(ReadOnlyFile file) throws IOException {
        String name = file.path().toString();
        if (file.size() < VdiHeader.SIZE) {
            throw new ImageException(name + ": file too small for a VDI header (" + file.size() + " bytes)");
        }
        byte[] raw = new byte[VdiHeader.SIZE];
        file.readFully(0, raw, 0, raw.length, "VDI header");
        VdiHeader header = VdiHeader.parse(name, raw);
        int blocks = (int) header.blocksInImage();
        file.checkInside(header.blockMapOffset(), (long) blocks * 4, "VDI block map");
        if (header.dataOffset() < header.blockMapOffset() + blocks * 4L) {
            throw new ImageException("%s: VDI data offset 0x%x overlaps the block map at 0x%x (%d entries)"
                    .formatted(name, header.dataOffset(), header.blockMapOffset(), blocks));
        }
        ByteBuffer map = file.read(header.blockMapOffset(), blocks * 4, ByteOrder.LITTLE_ENDIAN, "VDI block map");
        int[] blockMap = new int[blocks];
        long blockSize = header.blockSize();
        for (int i = 0; i < blocks; i++) {
            int entry = map.getInt(i * 4);
            blockMap[i] = entry;
            if (isAllocated(entry)) {
                long start = header.dataOffset() + Integer.toUnsignedLong(entry) * blockSize;
                if (start > file.size() || blockSize > file.size() - start) {
                    throw new ImageException("%s: VDI block %d maps to offset 0x%x, beyond the end of the file (%d bytes); is the image truncated?"
                            .formatted(name, i, start, file.size()));
                }
            }
        }
        return new VdiImage(file, header, blockMap);
    }

    private static boolean isAllocated(int entry) {
        return entry != UNALLOCATED && entry != DISCARDED;
    }

    public boolean isStatic() {
        return header.imageType() == VdiHeader.TYPE_STATIC;
    }

    @Override
    public long clusterSize() {
        return header.blockSize();
    }

    @Override
    public void read(long position, byte[] buffer, int offset, int length) throws IOException {
        checkRange(position, length);
        while (length > 0) {
            BlockStatus run = blockStatus(position, length);
            int piece = (int) run.length();
            if (run.data()) {
                file.readFully(run.hostOffset(), buffer, offset, piece, "VDI block");
            } else {
                Arrays.fill(buffer, offset, offset + piece, (byte) 0);
            }
            position += piece;
            offset += piece;
            length -= piece;
        }
    }

    /** Joins neighbouring blocks of the same kind (and, for data, contiguous in the file) into one run. */
    @Override
    public BlockStatus blockStatus(long position, long length) throws IOException {
        long request = Math.min(length, size() - position);
        checkRange(position, request);
        int blockSize = header.blockSize();
        int index = (int) (position / blockSize);
        long inBlock = position % blockSize;
        boolean allocated = isAllocated(blockMap[index]);
        long hostOffset = allocated ? dataOffset(index) + inBlock : -1;
        long run = Math.min(request, blockSize - inBlock);
        while (run < request) {
            int next = index + (int) ((inBlock + run) / blockSize);
            if (isAllocated(blockMap[next]) != allocated || (allocated && dataOffset(next) != hostOffset + run)) {
                break;
            }
            run = Math.min(request, run + blockSize);
        }
        return allocated ? new BlockStatus(run, true, false, true, 0, hostOffset) : new BlockStatus(run, false, true, true, 0, -1);
    }

    /**
     * qemu-img check for VDI, in its words: every allocated entry names a data block below
     * blocks_in_image, no data block is used twice, and blocks_allocated counts them. Returns the
     * errors found (empty: a clean image).
     */
    public List<String> check() {
        List<String> errors = new ArrayList<>();
        long[] owner = new long[blockMap.length];
        Arrays.fill(owner, -1);
        long allocated = 0;
        for (int block = 0; block < blockMap.length; block++) {
            if (!isAllocated(blockMap[block])) {
                continue;
            }
            long entry = Integer.toUnsignedLong(blockMap[block]);
            if (entry >= blockMap.length) {
                errors.add("ERROR: block index %d too large, is %d".formatted(block, entry));
                continue;
            }
            allocated++;
            if (owner[(int) entry] >= 0) {
                errors.add("ERROR: block index %d also used by %d".formatted(owner[(int) entry], block));
            } else {
                owner[(int) entry] = block;
            }
        }
        if (allocated != header.blocksAllocated()) {
            errors.add("ERROR: allocated blocks mismatch, is %d, should be %d".formatted(allocated, header.blocksAllocated()));
        }
        return errors;
    }

    private long dataOffset(int index) {
        return header.dataOffset() + Integer.toUnsignedLong(blockMap[index]) * header.blockSize();
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
