package dev.jvirt.virtio.blk;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.queue.Descriptor;
import dev.jvirt.virtio.queue.DescriptorChain;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.BooleanSupplier;

/**
 * Carries out one virtio-blk request (virtio 1.2, 5.2.6): the 16-byte header at the start of the
 * readable part, data after it (OUT, DISCARD, WRITE_ZEROES) or at the start of the writable part
 * (IN, GET_ID), and the status byte as the very last writable byte.
 *
 * <p>A request the guest got wrong in its data (sector past the end, misaligned length, writes to
 * a read-only disk) completes with IOERR or UNSUPP; a chain with no room for the header or the
 * status byte cannot be answered at all, and is a {@link VirtioException} (QEMU's "missing
 * headers", which marks the device broken). Data moves between the disk and guest RAM
 * directly ({@link BlockDriver#read(long, MemorySegment)}): for raw images nothing is copied in Java.
 * One processor belongs to one worker thread and reuses its header buffers for every request.
 */
final class BlockRequestProcessor {

    private static final System.Logger LOG = System.getLogger(BlockRequestProcessor.class.getName());

    private final BlockDriver disk;
    private final long capacitySectors;
    private final int blockSize;
    private final byte[] id;
    private final boolean readOnly;
    private final DiscardMode discard;
    private final int maxZeroSectors;
    private final int maxSegments;
    /** Whether a completed write must be flushed before it is reported (the guest sees no write cache). */
    private final BooleanSupplier flushEachWrite;

    private final byte[] header = new byte[VirtioBlk.REQUEST_HEADER_SIZE];
    private final ByteBuffer headerView = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
    private final byte[] segment = new byte[VirtioBlk.SEGMENT_SIZE];
    private final ByteBuffer segmentView = ByteBuffer.wrap(segment).order(ByteOrder.LITTLE_ENDIAN);
    /** Bytes of the writable part (before the status byte) this request has filled so far. */
    private long dataWritten;

    BlockRequestProcessor(BlockDriver disk, long capacitySectors, int blockSize, byte[] id, boolean readOnly,
                          DiscardMode discard, int maxZeroSectors, int maxSegments, BooleanSupplier flushEachWrite) {
        this.disk = disk;
        this.capacitySectors = capacitySectors;
        this.blockSize = blockSize;
        this.id = id;
        this.readOnly = readOnly;
        this.discard = discard;
        this.maxZeroSectors = maxZeroSectors;
        this.maxSegments = maxSegments;
        this.flushEachWrite = flushEachWrite;
    }

    /**
     * Serves {@code chain} and writes its status byte.
     *
     * @return the used length: the bytes written into the writable part, status byte included
     * @throws VirtioException if the chain has no status byte or a header shorter than 16 bytes
     */
    int process(DescriptorChain chain) throws VirtioException {
        if (chain.writableLength() == 0) {
            throw new VirtioException("virtio-blk request (head " + chain.head() + ") has no device-writable status byte");
        }
        if (chain.readableLength() < VirtioBlk.REQUEST_HEADER_SIZE) {
            throw new VirtioException("virtio-blk request (head " + chain.head() + ") has a " + chain.readableLength()
                    + "-byte header; it needs " + VirtioBlk.REQUEST_HEADER_SIZE);
        }
        chain.read(0, header, 0, VirtioBlk.REQUEST_HEADER_SIZE);
        int type = headerView.getInt(0);
        long sector = headerView.getLong(8);
        dataWritten = 0;
        int status;
        try {
            status = switch (type) {
                case VirtioBlk.T_IN -> read(chain, sector);
                case VirtioBlk.T_OUT -> write(chain, sector);
                case VirtioBlk.T_FLUSH -> flush();
                case VirtioBlk.T_GET_ID -> getId(chain);
                case VirtioBlk.T_DISCARD, VirtioBlk.T_WRITE_ZEROES -> discardOrZero(chain, type == VirtioBlk.T_WRITE_ZEROES);
                default -> VirtioBlk.S_UNSUPP;
            };
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "virtio-blk request type " + type + " at sector "
                    + Long.toUnsignedString(sector) + " failed: " + e.getMessage());
            status = VirtioBlk.S_IOERR;
        }
        Descriptor last = chain.writable().getLast();
        last.memory().set(ValueLayout.JAVA_BYTE, last.length() - 1L, (byte) status);
        // A chain's writable part is at most 32768 buffers of at most 2 GiB, but the data we write
        // is bounded by the disk request or the ID; clamp anyway rather than wrap.
        return (int) Math.min(Integer.MAX_VALUE, dataWritten + 1);
    }

    private int read(DescriptorChain chain, long sector) throws IOException {
        long length = chain.writableLength() - 1;
        if (!rangeOk(sector, length)) {
            return VirtioBlk.S_IOERR;
        }
        long position = sector * VirtioBlk.SECTOR_SIZE;
        for (MemorySegment slice : chain.writableSlices(0, length)) {
            disk.read(position + dataWritten, slice);
            dataWritten += slice.byteSize();
        }
        return VirtioBlk.S_OK;
    }

    private int write(DescriptorChain chain, long sector) throws IOException {
        long length = chain.readableLength() - VirtioBlk.REQUEST_HEADER_SIZE;
        if (readOnly || !rangeOk(sector, length)) {
            return VirtioBlk.S_IOERR;
        }
        long position = sector * VirtioBlk.SECTOR_SIZE;
        for (MemorySegment slice : chain.readableSlices(VirtioBlk.REQUEST_HEADER_SIZE, length)) {
            disk.write(position, slice);
            position += slice.byteSize();
        }
        return afterWrite();
    }

    private int flush() throws IOException {
        // The block layer makes this a no-op for read-only images and for cache=unsafe.
        disk.flush();
        return VirtioBlk.S_OK;
    }

    private int afterWrite() throws IOException {
        if (flushEachWrite.getAsBoolean()) {
            disk.flush();
        }
        return VirtioBlk.S_OK;
    }

    private int getId(DescriptorChain chain) {
        int length = (int) Math.min(VirtioBlk.ID_BYTES, chain.writableLength() - 1);
        chain.write(0, id, 0, length);
        dataWritten = length;
        return VirtioBlk.S_OK;
    }

    /**
     * DISCARD and WRITE_ZEROES carry an array of segments. All are checked before any is carried
     * out, so a bad segment leaves the disk untouched.
     */
    private int discardOrZero(DescriptorChain chain, boolean writeZeroes) throws IOException {
        // Not offered on a read-only disk, and QEMU answers what it does not offer with UNSUPP.
        if (readOnly) {
            return VirtioBlk.S_UNSUPP;
        }
        long payload = chain.readableLength() - VirtioBlk.REQUEST_HEADER_SIZE;
        // QEMU treats a missing segment as a broken device; the header was fine, so an error status is enough here.
        if (payload == 0 || payload % VirtioBlk.SEGMENT_SIZE != 0 || payload / VirtioBlk.SEGMENT_SIZE > maxSegments) {
            return VirtioBlk.S_IOERR;
        }
        int segments = (int) (payload / VirtioBlk.SEGMENT_SIZE);
        for (int i = 0; i < segments; i++) {
            readSegment(chain, i);
            int flags = segmentView.getInt(12);
            // 5.2.6.2: unknown flags, and UNMAP on a discard, are UNSUPP.
            if ((flags & ~VirtioBlk.WRITE_ZEROES_FLAG_UNMAP) != 0 || (!writeZeroes && flags != 0)) {
                return VirtioBlk.S_UNSUPP;
            }
            long sectors = Integer.toUnsignedLong(segmentView.getInt(8));
            if (sectors > maxZeroSectors
                    || !rangeOk(segmentView.getLong(0), sectors * VirtioBlk.SECTOR_SIZE)) {
                return VirtioBlk.S_IOERR;
            }
        }
        for (int i = 0; i < segments; i++) {
            readSegment(chain, i);
            long position = segmentView.getLong(0) * VirtioBlk.SECTOR_SIZE;
            long length = Integer.toUnsignedLong(segmentView.getInt(8)) * VirtioBlk.SECTOR_SIZE;
            if (length == 0) {
                continue;
            }
            if (writeZeroes) {
                disk.writeZeroes(position, length);
            } else if (discard == DiscardMode.UNMAP) {
                disk.discard(position, length);
            }
        }
        return afterWrite();
    }

    private void readSegment(DescriptorChain chain, int index) {
        chain.read(VirtioBlk.REQUEST_HEADER_SIZE + (long) index * VirtioBlk.SEGMENT_SIZE, segment, 0, VirtioBlk.SEGMENT_SIZE);
    }

    /**
     * Whether {@code bytes} at 512-byte {@code sector} (unsigned, as the guest wrote it) lie on the
     * disk, in whole logical blocks, as QEMU's virtio_blk_sect_range_ok checks.
     */
    private boolean rangeOk(long sector, long bytes) {
        int sectorsPerBlock = blockSize / VirtioBlk.SECTOR_SIZE;
        if (bytes % blockSize != 0 || Long.remainderUnsigned(sector, sectorsPerBlock) != 0) {
            return false;
        }
        // sector is unsigned: anything at or above 2^63 compares above the capacity too.
        if (Long.compareUnsigned(sector, capacitySectors) > 0) {
            return false;
        }
        return bytes / VirtioBlk.SECTOR_SIZE <= capacitySectors - sector;
    }
}
