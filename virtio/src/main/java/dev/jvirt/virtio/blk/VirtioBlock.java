package dev.jvirt.virtio.blk;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.Images;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.Virtqueue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * virtio-blk (virtio 1.2, section 5.2) over a {@link BlockDriver}: IN, OUT, FLUSH, GET_ID,
 * DISCARD and WRITE_ZEROES on up to {@code num-queues} request queues, each served by its own
 * worker thread from activation until reset.
 *
 * <p>Cache modes follow QEMU: writeback, none and unsafe report a write cache (writeback = 1) and
 * the guest flushes; writethrough reports none, and the block layer flushes after every write.
 * With VIRTIO_BLK_F_CONFIG_WCE the guest may turn the cache off, and the device then flushes after
 * each write itself; a driver that did not take VIRTIO_BLK_F_FLUSH cannot flush, so it gets the same.
 * cache=unsafe makes every flush a no-op (in the block layer). cache=none behaves like writeback:
 * the block layer has no O_DIRECT yet.
 */
public final class VirtioBlock implements VirtioDevice, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(VirtioBlock.class.getName());
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    /** size_max: the driver's bound per buffer. Any size would do (data is copied in pieces); 1 MiB keeps chains sane. */
    static final int SIZE_MAX = 1 << 20;
    /** The largest DISCARD/WRITE_ZEROES segment, QEMU's BDRV_REQUEST_MAX_SECTORS: a byte count that fits an int. */
    static final int MAX_ZERO_SECTORS = Integer.MAX_VALUE / VirtioBlk.SECTOR_SIZE;
    /** Segments per DISCARD/WRITE_ZEROES request; Linux never sends more than 256. */
    static final int MAX_ZERO_SEGMENTS = 256;

    private final BlockDriver disk;
    private final VirtioBlockOptions options;
    private final String name;
    private final long capacitySectors;
    private final byte[] id;
    private final boolean readOnly;
    private final int maxZeroSectors;
    private final long features;
    private final BlockConfigSpace config;

    private final Object lifecycle = new Object();
    private volatile QueueWorker[] workers;
    private final AtomicBoolean broken = new AtomicBoolean();
    private volatile DeviceContext context;

    /**
     * A device over an open image; the device owns it from now on and closes it in {@link #close()}.
     * Of {@code options}, {@code path} and {@code format} are not used (the image is already open);
     * the disk is read-only if either {@code options.readOnly()} or the image says so.
     */
    public VirtioBlock(BlockDriver disk, VirtioBlockOptions options) {
        this.disk = disk;
        this.options = options;
        this.name = "virtio-blk" + INSTANCES.incrementAndGet();
        this.capacitySectors = disk.size() / VirtioBlk.SECTOR_SIZE;
        this.id = idBytes(options.serial());
        this.readOnly = options.readOnly() || disk.isReadOnly();
        int blockSize = options.logicalBlockSize();
        // A segment length in sectors must stay a whole number of logical blocks.
        this.maxZeroSectors = MAX_ZERO_SECTORS / (blockSize / VirtioBlk.SECTOR_SIZE) * (blockSize / VirtioBlk.SECTOR_SIZE);
        long offered = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
                | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)
                | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)
                | VirtioFeatures.bit(VirtioBlk.F_SIZE_MAX)
                | VirtioFeatures.bit(VirtioBlk.F_SEG_MAX)
                | VirtioFeatures.bit(VirtioBlk.F_BLK_SIZE)
                | VirtioFeatures.bit(VirtioBlk.F_FLUSH)
                | VirtioFeatures.bit(VirtioBlk.F_CONFIG_WCE);
        if (readOnly) {
            offered |= VirtioFeatures.bit(VirtioBlk.F_RO);
        } else {
            offered |= VirtioFeatures.bit(VirtioBlk.F_DISCARD) | VirtioFeatures.bit(VirtioBlk.F_WRITE_ZEROES);
        }
        if (options.queues() > 1) {
            offered |= VirtioFeatures.bit(VirtioBlk.F_MQ);
        }
        this.features = offered;
        this.config = new BlockConfigSpace(capacitySectors, SIZE_MAX, options.queueSize() - 2, blockSize,
                options.queues(), maxZeroSectors, MAX_ZERO_SEGMENTS, options.discard() == DiscardMode.UNMAP,
                options.cache().writeCache());
    }

    /** Opens {@code options.path()} through the block layer (format probed when not given, backing chains followed). */
    public static VirtioBlock open(VirtioBlockOptions options) throws IOException {
        BlockDriver disk = Images.open(options.path(), options.openOptions());
        try {
            return new VirtioBlock(disk, options);
        } catch (RuntimeException e) {
            disk.close();
            throw e;
        }
    }

    /** The serial NUL-padded to 20 bytes; longer serials are cut, as the guest could only ever see 20. */
    private static byte[] idBytes(String serial) {
        byte[] padded = new byte[VirtioBlk.ID_BYTES];
        if (serial != null) {
            byte[] bytes = serial.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(bytes, 0, padded, 0, Math.min(bytes.length, padded.length));
        }
        return padded;
    }

    public BlockDriver disk() {
        return disk;
    }

    public VirtioBlockOptions options() {
        return options;
    }

    public long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public int deviceType() {
        return VirtioDeviceType.BLOCK;
    }

    @Override
    public long deviceFeatures() {
        return features;
    }

    @Override
    public int queueCount() {
        return options.queues();
    }

    @Override
    public int queueMaxSize(int queue) {
        return options.queueSize();
    }

    @Override
    public int configSize() {
        return VirtioBlk.CONFIG_SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        return config.read(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        if ((features & VirtioFeatures.bit(VirtioBlk.F_CONFIG_WCE)) != 0) {
            config.write(offset, size, value);
        }
    }

    /**
     * Starts a worker for each queue the driver may use (all of them with VIRTIO_BLK_F_MQ, else
     * queue 0) and made ready. A ready queue the transport has not activated yet is activated here
     * with the negotiated ring features.
     */
    @Override
    public void activate(DeviceContext context) throws VirtioException {
        synchronized (lifecycle) {
            stopWorkers();
            if (context.queues().size() != options.queues()) {
                throw new VirtioException("virtio-blk has " + options.queues() + " queues, the transport gave "
                        + context.queues().size());
            }
            int usable = context.hasFeature(VirtioBlk.F_MQ) ? options.queues() : 1;
            boolean eventIndex = context.hasFeature(VirtioFeatures.RING_EVENT_IDX);
            boolean indirect = context.hasFeature(VirtioFeatures.RING_INDIRECT_DESC);
            boolean canFlush = context.hasFeature(VirtioBlk.F_FLUSH);
            // Without a guest-visible write cache, each write is flushed before it completes. With
            // cache=writethrough/directsync the block layer already does that, and with unsafe a flush does nothing.
            boolean cacheHonoursFlush = options.cache().writeCache() && !options.cache().noFlush();
            QueueWorker[] started = new QueueWorker[options.queues()];
            for (int i = 0; i < usable; i++) {
                Virtqueue queue = context.queues().get(i);
                if (!queue.isReady()) {
                    continue;
                }
                if (!queue.isActive()) {
                    queue.activate(context.memory(), eventIndex, indirect);
                }
                BlockRequestProcessor processor = new BlockRequestProcessor(disk, capacitySectors,
                        options.logicalBlockSize(), id, readOnly, options.discard(), maxZeroSectors, MAX_ZERO_SEGMENTS,
                        () -> cacheHonoursFlush && !(canFlush && config.writeback()));
                started[i] = new QueueWorker(name + "-q" + i, i, queue, processor, context.interrupts(), breakage);
            }
            broken.set(false);
            this.context = context;
            for (QueueWorker worker : started) {
                if (worker != null) {
                    worker.start();
                    // Anything made available before DRIVER_OK is served without waiting for a kick.
                    worker.kick();
                }
            }
            this.workers = started;
        }
    }

    private final QueueWorker.Breakage breakage = new QueueWorker.Breakage() {
        @Override
        public void broken(String why) {
            if (broken.compareAndSet(false, true)) {
                LOG.log(System.Logger.Level.WARNING, name + ": guest broke the rules, device needs reset: " + why);
                DeviceContext current = context;
                if (current != null) {
                    current.needsReset().run();
                }
            }
        }

        @Override
        public boolean isBroken() {
            return broken.get();
        }
    };

    @Override
    public void queueNotify(int queue) {
        QueueWorker[] current = workers;
        if (current != null && queue >= 0 && queue < current.length && current[queue] != null) {
            current[queue].kick();
        }
    }

    /** Stops the workers (each finishes the request in hand) and waits for their threads to end. */
    @Override
    public void reset() {
        synchronized (lifecycle) {
            stopWorkers();
            context = null;
            broken.set(false);
            config.reset();
        }
    }

    private void stopWorkers() {
        QueueWorker[] current = workers;
        workers = null;
        if (current == null) {
            return;
        }
        for (QueueWorker worker : current) {
            if (worker != null) {
                worker.stop();
            }
        }
    }

    /** The worker threads of the current activation, for tests and diagnostics. */
    List<Thread> workerThreads() {
        QueueWorker[] current = workers;
        if (current == null) {
            return List.of();
        }
        List<Thread> threads = new ArrayList<>();
        for (QueueWorker worker : current) {
            if (worker != null) {
                threads.add(worker.thread());
            }
        }
        return threads;
    }

    /** Stops the device and closes the image. */
    @Override
    public void close() throws IOException {
        reset();
        disk.close();
    }
}
