package dev.jvirt.virtio.balloon;

import dev.jvirt.kvm.sys.NativeException;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;

import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.LongConsumer;

/**
 * The traditional virtio memory balloon (virtio 1.2, section 5.5): the host sets a target
 * ({@code num_pages}, how many 4 KiB pages the guest should give up), the driver inflates by
 * sending page frame numbers it no longer uses on inflateq (0), which we discard so their host
 * memory goes back to the host, deflates by sending PFNs it takes back on deflateq (1), and
 * reports how many pages it holds in {@code actual}. With F_STATS_VQ the driver keeps one
 * buffer of memory statistics on statsq (2); returning it asks for fresh statistics.
 *
 * <p>The host side speaks QMP's units: {@link #setTargetBytes} takes {@code balloon}'s value
 * (the memory the guest should keep), {@link #actualBytes} is {@code query-balloon}'s
 * {@code actual} (RAM minus the balloon), {@link #latestStats} is {@code guest-stats}.
 *
 * <p>Guest errors, handled as QEMU does: a PFN outside guest RAM is skipped (QEMU's
 * memory_region_find check), the rest of the array still counts; bytes after the last whole
 * PFN or statistic are ignored (QEMU reads whole u32s / whole 10-byte records while they
 * last); device-writable buffers are not touched. None of these breaks the driver's view, so
 * none is worth a reset. A ring violation from the queue layer puts the device in NEEDS_RESET.
 */
public final class VirtioBalloon implements VirtioDevice {

    public static final int INFLATEQ = 0;
    public static final int DEFLATEQ = 1;
    public static final int STATSQ = 2;
    public static final int QUEUE_SIZE = 128;

    /** Feature bits (5.5.3). */
    public static final int F_MUST_TELL_HOST = 0;
    public static final int F_STATS_VQ = 1;
    public static final int F_DEFLATE_ON_OOM = 2;

    /** PFNs count 4 KiB pages whatever the guest's page size (VIRTIO_BALLOON_PFN_SHIFT). */
    public static final int PFN_SHIFT = 12;
    public static final long PAGE_SIZE = 1L << PFN_SHIFT;
    /** num_pages and actual; the free page hint and poison fields follow only with their features. */
    public static final int CONFIG_SIZE = 8;

    private static final System.Logger LOG = System.getLogger(VirtioBalloon.class.getName());
    private static final int STAT_SIZE = 10; // struct virtio_balloon_stat: le16 tag, le64 val, packed
    private static final int PFN_BATCH = 256; // VIRTIO_BALLOON_ARRAY_PFNS_MAX, what Linux sends at once
    private static final long MAX_NUM_PAGES = 0xFFFF_FFFFL;

    private final long ramBytes;
    private final long features;

    private volatile int numPages;
    private volatile int actual;
    private volatile LongConsumer actualListener = bytes -> { };

    private DeviceContext context;
    private boolean broken;
    private boolean discardFailureLogged;
    /** Reused for every request so that inflating allocates nothing. */
    private final byte[] pfnBatch = new byte[PFN_BATCH * 4];
    private final byte[] statRecord = new byte[STAT_SIZE];

    /** The stats buffer the driver gave us, kept until we want new statistics. */
    private DescriptorChain heldStats;
    private final long[] stats = new long[BalloonStats.NAMES.size()];
    private long statsLastUpdate;
    private int statsPollSeconds;
    /** Bumped whenever the polling timer is re-armed or cancelled: a stale timer does nothing. */
    private long timerGeneration;

    /**
     * A balloon for a guest with {@code ramBytes} of RAM (the {@code -m} size; targets are taken
     * relative to it). {@code deflateOnOom} offers F_DEFLATE_ON_OOM (QEMU's deflate-on-oom=on):
     * the guest may then take pages back from the balloon when it runs out of memory.
     */
    public VirtioBalloon(long ramBytes, boolean deflateOnOom) {
        if (ramBytes <= 0 || ramBytes % PAGE_SIZE != 0) {
            throw new IllegalArgumentException("guest RAM size must be a positive multiple of 4 KiB, not " + ramBytes);
        }
        this.ramBytes = ramBytes;
        long offered = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
                | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)
                | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)
                | VirtioFeatures.bit(F_STATS_VQ);
        if (deflateOnOom) {
            offered |= VirtioFeatures.bit(F_DEFLATE_ON_OOM);
        }
        this.features = offered;
        Arrays.fill(stats, BalloonStats.UNSET);
    }

    public VirtioBalloon(long ramBytes) {
        this(ramBytes, false);
    }

    @Override
    public int deviceType() {
        return VirtioDeviceType.BALLOON;
    }

    @Override
    public long deviceFeatures() {
        return features;
    }

    @Override
    public int queueCount() {
        return 3;
    }

    @Override
    public int queueMaxSize(int queue) {
        return QUEUE_SIZE;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        long config = Integer.toUnsignedLong(numPages) | (Integer.toUnsignedLong(actual) << 32);
        long value = config >>> (8 * offset);
        return size == 4 ? (int) value : (int) (value & ((1L << (8 * size)) - 1));
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // Only actual (bytes 4..7) is the driver's; a narrower write replaces just its bytes.
        int changed = actual;
        for (int i = 0; i < size; i++) {
            int at = offset + i;
            if (at >= 4 && at < 8) {
                int shift = 8 * (at - 4);
                changed = (changed & ~(0xFF << shift)) | (((value >>> (8 * i)) & 0xFF) << shift);
            }
        }
        setActual(changed);
    }

    private void setActual(int pages) {
        int old = actual;
        actual = pages;
        if (old != pages) {
            // QEMU's BALLOON_CHANGE event carries the new query-balloon actual.
            actualListener.accept(actualBytes());
        }
    }

    // ---- the host's side: QMP balloon / query-balloon / guest-stats ----

    /** Calls {@code listener} with {@link #actualBytes()} whenever the driver reports a new size (QMP BALLOON_CHANGE). */
    public void setActualListener(LongConsumer listener) {
        this.actualListener = Objects.requireNonNull(listener, "listener");
    }

    public long ramBytes() {
        return ramBytes;
    }

    /**
     * QMP {@code balloon value=}: the guest should keep {@code guestBytes} of its RAM. As in
     * QEMU, more than the RAM size means all of it, and the balloon size is rounded down to
     * whole 4 KiB pages.
     */
    public void setTargetBytes(long guestBytes) {
        if (guestBytes <= 0) {
            throw new IllegalArgumentException("balloon target must be positive, not " + guestBytes);
        }
        long keep = Math.min(guestBytes, ramBytes);
        setTargetPages((ramBytes - keep) >> PFN_SHIFT);
    }

    /** Sets num_pages, the balloon size in 4 KiB pages, and tells a running driver. */
    public void setTargetPages(long pages) {
        if (pages < 0 || pages > Math.min(MAX_NUM_PAGES, ramBytes >> PFN_SHIFT)) {
            throw new IllegalArgumentException("balloon of " + pages + " pages does not fit a guest of " + (ramBytes >> PFN_SHIFT) + " pages");
        }
        int old = numPages;
        numPages = (int) pages;
        DeviceContext active;
        synchronized (this) {
            active = context;
        }
        if (old != (int) pages && active != null) {
            active.interrupts().configChanged();
        }
    }

    /** The balloon size the host asked for, in 4 KiB pages (num_pages). */
    public long targetPages() {
        return Integer.toUnsignedLong(numPages);
    }

    /** The memory the host wants the guest to keep: RAM minus the target balloon. */
    public long targetBytes() {
        return ramBytes - (targetPages() << PFN_SHIFT);
    }

    /** The balloon size the driver reports, in 4 KiB pages (actual). */
    public long actualPages() {
        return Integer.toUnsignedLong(actual);
    }

    /** QMP query-balloon's {@code actual}: RAM minus the balloon the driver reports holding. */
    public long actualBytes() {
        return Math.max(0, ramBytes - (actualPages() << PFN_SHIFT));
    }

    /** The statistics the guest sent last (all {@link BalloonStats#UNSET} until it sends some). */
    public synchronized BalloonStats latestStats() {
        return BalloonStats.of(statsLastUpdate, stats);
    }

    /**
     * Asks the guest for fresh statistics by giving its stats buffer back; they arrive when
     * the driver resubmits it. Returns false if we hold no buffer (no driver, no F_STATS_VQ,
     * or a request is already out).
     */
    public synchronized boolean requestStats() {
        if (heldStats == null || broken || context == null) {
            return false;
        }
        Virtqueue queue = context.queues().get(STATSQ);
        queue.addUsed(heldStats.head(), 0);
        heldStats = null;
        if (queue.needsInterrupt()) {
            context.interrupts().usedBuffers(STATSQ);
        }
        return true;
    }

    /**
     * QEMU's {@code guest-stats-polling-interval}: with a positive interval, statistics are
     * requested that many seconds after each report (and at once when polling starts); 0 stops.
     */
    public synchronized void setStatsPollingInterval(int seconds) {
        if (seconds < 0) {
            throw new IllegalArgumentException("stats polling interval must not be negative, not " + seconds);
        }
        boolean wasEnabled = statsPollSeconds > 0;
        statsPollSeconds = seconds;
        if (seconds == 0) {
            timerGeneration++;
        } else {
            armStatsTimer(wasEnabled ? seconds : 0);
        }
    }

    public synchronized int statsPollingInterval() {
        return statsPollSeconds;
    }

    private void armStatsTimer(long delaySeconds) {
        long armed = ++timerGeneration;
        Thread.ofVirtual().name("virtio-balloon-stats-timer").start(() -> {
            try {
                Thread.sleep(Duration.ofSeconds(delaySeconds));
            } catch (InterruptedException e) {
                return;
            }
            synchronized (this) {
                if (timerGeneration == armed) {
                    // Without a held buffer the guest has not answered yet: its next report re-arms us.
                    requestStats();
                }
            }
        });
    }

    // ---- the driver's side ----

    @Override
    public synchronized void activate(DeviceContext context) throws VirtioException {
        for (int queue = 0; queue < queueCount(); queue++) {
            usable(context, queue);
        }
        this.context = context;
        this.broken = false;
        this.heldStats = null;
        // Linux primes statsq (and may fill the others) before DRIVER_OK; that kick found no
        // active device, so look at every queue once now.
        for (int queue = 0; queue < queueCount(); queue++) {
            process(queue);
        }
    }

    @Override
    public synchronized void queueNotify(int queue) {
        if (queue >= 0 && queue < queueCount()) {
            process(queue);
        }
    }

    @Override
    public synchronized void reset() {
        context = null;
        heldStats = null;
        timerGeneration++;
        // The next driver starts with an empty balloon; the host's target stays.
        setActual(0);
    }

    private void process(int queueIndex) {
        if (context == null || broken) {
            return;
        }
        Virtqueue queue = context.queues().get(queueIndex);
        if (!queue.isReady() || !queue.isActive()) {
            return;
        }
        try {
            boolean used = false;
            DescriptorChain chain;
            while ((chain = queue.pop()) != null) {
                switch (queueIndex) {
                    case INFLATEQ -> inflate(chain);
                    case DEFLATEQ -> { } // the guest uses its pages again; nothing to do without MUST_TELL_HOST
                    default -> {
                        receiveStats(chain);
                        continue; // held, not returned
                    }
                }
                queue.addUsed(chain.head(), 0);
                used = true;
            }
            if (used && queue.needsInterrupt()) {
                context.interrupts().usedBuffers(queueIndex);
            }
        } catch (VirtioException e) {
            broken = true;
            LOG.log(System.Logger.Level.WARNING, "virtio-balloon: queue " + queueIndex + ": " + e.getMessage() + "; device needs reset");
            context.needsReset().run();
        }
    }

    /**
     * The queue if the driver enabled it, activated with the negotiated ring features if the
     * transport has not done so already; null if the driver left it off.
     */
    private static Virtqueue usable(DeviceContext context, int index) throws VirtioException {
        Virtqueue queue = context.queues().get(index);
        if (!queue.isReady()) {
            return null;
        }
        if (!queue.isActive()) {
            try {
                queue.activate(context.memory(), context.hasFeature(VirtioFeatures.RING_EVENT_IDX),
                        context.hasFeature(VirtioFeatures.RING_INDIRECT_DESC));
            } catch (VirtioException e) {
                throw new VirtioException("virtio-balloon queue " + index + ": " + e.getMessage());
            }
        }
        return queue;
    }

    private void inflate(DescriptorChain chain) {
        GuestMemory memory = context.memory();
        long pfns = chain.readableLength() / 4;
        long outside = 0;
        for (long done = 0; done < pfns; ) {
            int count = (int) Math.min(PFN_BATCH, pfns - done);
            chain.read(done * 4, pfnBatch, 0, count * 4);
            for (int i = 0; i < count; i++) {
                long pfn = Integer.toUnsignedLong(littleEndianInt(pfnBatch, 4 * i));
                long address = pfn << PFN_SHIFT;
                if (!memory.isRam(address, PAGE_SIZE)) {
                    outside++;
                    continue;
                }
                discard(memory, address);
            }
            done += count;
        }
        if (outside > 0) {
            LOG.log(System.Logger.Level.DEBUG, "virtio-balloon: ignored " + outside + " inflated PFNs outside guest RAM");
        }
    }

    private void discard(GuestMemory memory, long address) {
        try {
            memory.discard(address, PAGE_SIZE);
        } catch (NativeException | RuntimeException e) {
            // E.g. a 4 KiB page of hugetlbfs RAM: the guest still gave it up, the host just keeps it.
            if (!discardFailureLogged) {
                discardFailureLogged = true;
                LOG.log(System.Logger.Level.WARNING, "virtio-balloon: cannot return ballooned pages to the host ("
                        + e.getMessage() + "); further failures are not logged");
            }
        }
    }

    private void receiveStats(DescriptorChain chain) {
        if (heldStats != null) {
            // The driver keeps one buffer out; a second one means the first is done with (QEMU returns it).
            Virtqueue queue = context.queues().get(STATSQ);
            queue.addUsed(heldStats.head(), 0);
            if (queue.needsInterrupt()) {
                context.interrupts().usedBuffers(STATSQ);
            }
        }
        heldStats = chain;
        // Forget the last report: a guest that now reports less must not leave stale values.
        Arrays.fill(stats, BalloonStats.UNSET);
        long records = chain.readableLength() / STAT_SIZE;
        for (long i = 0; i < records; i++) {
            chain.read(i * STAT_SIZE, statRecord, 0, STAT_SIZE);
            int tag = (statRecord[0] & 0xFF) | (statRecord[1] & 0xFF) << 8;
            if (tag < stats.length) {
                stats[tag] = Integer.toUnsignedLong(littleEndianInt(statRecord, 2))
                        | (long) littleEndianInt(statRecord, 6) << 32;
            }
        }
        statsLastUpdate = System.currentTimeMillis() / 1000;
        if (statsPollSeconds > 0) {
            armStatsTimer(statsPollSeconds);
        }
    }

    private static int littleEndianInt(byte[] bytes, int at) {
        return (bytes[at] & 0xFF) | (bytes[at + 1] & 0xFF) << 8 | (bytes[at + 2] & 0xFF) << 16 | (bytes[at + 3] & 0xFF) << 24;
    }
}
