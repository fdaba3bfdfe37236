package dev.jvirt.virtio.blk;

import dev.jvirt.block.CacheMode;
import dev.jvirt.block.OpenOptions;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A virtio-blk disk as QEMU's {@code -drive file=,format=,cache=,readonly=,serial=,discard=} and
 * {@code -device virtio-blk-pci,num-queues=,queue-size=,logical_block_size=,serial=} describe it.
 *
 * @param path             the image file
 * @param format           "raw", "qcow2", or null to probe (as QEMU does without format=)
 * @param readOnly         readonly=on: the image is opened read-only and VIRTIO_BLK_F_RO is offered
 * @param cache            cache=; the block layer carries out writethrough and unsafe, the device
 *                         reports the write cache (WCE) for the others
 * @param serial           what GET_ID returns (at most 20 bytes are sent), or null for none
 * @param discard          discard=ignore|unmap
 * @param queues           num-queues: request queues, each served by its own worker thread
 * @param queueSize        queue-size: the largest ring the driver may set up, a power of two
 * @param logicalBlockSize logical_block_size: blk_size in the config, a power of two from 512
 */
public record VirtioBlockOptions(Path path, String format, boolean readOnly, CacheMode cache, String serial,
                                 DiscardMode discard, int queues, int queueSize, int logicalBlockSize) {

    public static final int DEFAULT_QUEUE_SIZE = 256;
    /** Each queue costs a platform thread; QEMU's limit is far higher but nobody needs it here. */
    public static final int MAX_QUEUES = 256;
    public static final int MAX_LOGICAL_BLOCK_SIZE = 32768;

    public VirtioBlockOptions {
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(discard, "discard");
        if (queues < 1 || queues > MAX_QUEUES) {
            throw new IllegalArgumentException("num-queues " + queues + " is outside 1.." + MAX_QUEUES);
        }
        // seg_max is queue-size - 2 (header and status take a descriptor each), as in QEMU.
        if (queueSize < 4 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("queue-size " + queueSize + " is not a power of two in 4..32768");
        }
        if (logicalBlockSize < VirtioBlk.SECTOR_SIZE || logicalBlockSize > MAX_LOGICAL_BLOCK_SIZE
                || Integer.bitCount(logicalBlockSize) != 1) {
            throw new IllegalArgumentException("logical_block_size " + logicalBlockSize + " is not a power of two in 512.."
                    + MAX_LOGICAL_BLOCK_SIZE);
        }
    }

    /** QEMU's defaults for {@code -drive file=PATH,if=virtio}: probed format, read-write, writeback, discard ignored, one queue. */
    public static VirtioBlockOptions of(Path path) {
        return new VirtioBlockOptions(path, null, false, CacheMode.WRITEBACK, null, DiscardMode.IGNORE, 1,
                DEFAULT_QUEUE_SIZE, VirtioBlk.SECTOR_SIZE);
    }

    /** How the block layer opens the image. */
    public OpenOptions openOptions() {
        return new OpenOptions(readOnly, cache, format);
    }

    public VirtioBlockOptions withFormat(String value) {
        return new VirtioBlockOptions(path, value, readOnly, cache, serial, discard, queues, queueSize, logicalBlockSize);
    }

    public VirtioBlockOptions withReadOnly(boolean value) {
        return new VirtioBlockOptions(path, format, value, cache, serial, discard, queues, queueSize, logicalBlockSize);
    }

    public VirtioBlockOptions withCache(CacheMode value) {
        return new VirtioBlockOptions(path, format, readOnly, value, serial, discard, queues, queueSize, logicalBlockSize);
    }

    public VirtioBlockOptions withSerial(String value) {
        return new VirtioBlockOptions(path, format, readOnly, cache, value, discard, queues, queueSize, logicalBlockSize);
    }

    public VirtioBlockOptions withDiscard(DiscardMode value) {
        return new VirtioBlockOptions(path, format, readOnly, cache, serial, value, queues, queueSize, logicalBlockSize);
    }

    public VirtioBlockOptions withQueues(int value) {
        return new VirtioBlockOptions(path, format, readOnly, cache, serial, discard, value, queueSize, logicalBlockSize);
    }

    public VirtioBlockOptions withQueueSize(int value) {
        return new VirtioBlockOptions(path, format, readOnly, cache, serial, discard, queues, value, logicalBlockSize);
    }

    public VirtioBlockOptions withLogicalBlockSize(int value) {
        return new VirtioBlockOptions(path, format, readOnly, cache, serial, discard, queues, queueSize, value);
    }
}
