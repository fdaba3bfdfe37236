package dev.jvirt.virtio.rng;

import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;

import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Objects;

/**
 * virtio-rng (virtio 1.2, section 5.4): one request queue whose device-writable buffers the
 * device fills with host entropy. The used length is the number of bytes written, which may be
 * less than the buffer (the specification allows it): a request is capped at
 * {@link #MAX_REQUEST_BYTES} so one kick cannot keep a vCPU thread busy for long, and by the
 * optional rate limit, QEMU's {@code max-bytes} per {@code period}.
 *
 * <p>A device-readable buffer in the queue breaks a driver MUST NOT (5.4.6.1), but like QEMU,
 * which only ever copies into a request's in-buffers, we ignore it: the readable part is never
 * read, and a request without a writable part comes back used with length 0. Ring violations
 * the queue layer detects put the device in NEEDS_RESET.
 */
public final class VirtioRng implements VirtioDevice {

    public static final int QUEUE_SIZE = 64;
    /** Bytes written into one request at most; the guest asks again for more. */
    public static final int MAX_REQUEST_BYTES = 64 * 1024;

    private static final int CHUNK = 4096;
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)
            | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX);

    private final SecureRandom source;
    private final long maxBytesPerPeriod;
    private final long periodNanos;
    /**
     * Entropy drawn from the source but not yet handed out, from {@code poolPosition} on;
     * reused for every request so that serving entropy allocates nothing, and drawn a pool at
     * a time because Linux asks for a few dozen bytes per request.
     */
    private final byte[] pool = new byte[CHUNK];
    private int poolPosition = CHUNK;

    private DeviceContext context;
    private Virtqueue queue;
    private boolean broken;
    private long quota;
    private long periodStart;
    private boolean refillScheduled;
    /** Bumped on every activation and reset, so a refill timer from an older life does nothing. */
    private long generation;

    /** Entropy from the host's /dev/urandom, without a rate limit. */
    public VirtioRng() {
        this(defaultSource(), Long.MAX_VALUE, Duration.ofMillis(1 << 16));
    }

    /**
     * Entropy from {@code source}, at most {@code maxBytes} per {@code period} (QEMU's
     * {@code -object rng-random} with {@code virtio-rng-pci,max-bytes=,period=}).
     */
    public VirtioRng(SecureRandom source, long maxBytes, Duration period) {
        this.source = Objects.requireNonNull(source, "source");
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("max-bytes must be positive, not " + maxBytes);
        }
        if (period.isNegative() || period.isZero()) {
            throw new IllegalArgumentException("period must be positive, not " + period);
        }
        this.maxBytesPerPeriod = maxBytes;
        this.periodNanos = period.toNanos();
    }

    private static SecureRandom defaultSource() {
        try {
            // Reads /dev/urandom directly: never blocks once the host has booted.
            return SecureRandom.getInstance("NativePRNGNonBlocking");
        } catch (NoSuchAlgorithmException e) {
            return new SecureRandom();
        }
    }

    @Override
    public int deviceType() {
        return VirtioDeviceType.ENTROPY;
    }

    @Override
    public long deviceFeatures() {
        return FEATURES;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int queueMaxSize(int queue) {
        return QUEUE_SIZE;
    }

    @Override
    public int configSize() {
        return 0;
    }

    @Override
    public int readConfig(int offset, int size) {
        return 0;
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // No configuration space.
    }

    @Override
    public void activate(DeviceContext context) throws VirtioException {
        synchronized (this) {
            // A driver may leave the queue off; it then simply gets no entropy.
            this.queue = usable(context, 0);
            this.context = context;
            this.broken = false;
            this.quota = maxBytesPerPeriod;
            this.periodStart = System.nanoTime();
            this.refillScheduled = false;
            this.generation++;
        }
        // Requests made available before DRIVER_OK had their kick dropped by the transport.
        process();
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
                throw new VirtioException("virtio-rng queue " + index + ": " + e.getMessage());
            }
        }
        return queue;
    }

    @Override
    public void queueNotify(int queueIndex) {
        if (queueIndex == 0) {
            process();
        }
    }

    @Override
    public synchronized void reset() {
        context = null;
        queue = null;
        generation++;
    }

    private synchronized void process() {
        if (queue == null || broken) {
            return;
        }
        try {
            boolean used = false;
            do {
                queue.disableNotification();
                DescriptorChain chain;
                while (takeQuota() && (chain = queue.pop()) != null) {
                    int written = fill(chain);
                    quota -= written;
                    queue.addUsed(chain.head(), written);
                    used = true;
                }
                if (quota == 0) {
                    // Out of quota: leave notifications off, the refill timer comes back.
                    scheduleRefill();
                    break;
                }
            } while (queue.enableNotification());
            if (used && queue.needsInterrupt()) {
                context.interrupts().usedBuffers(0);
            }
        } catch (VirtioException e) {
            broken = true;
            context.needsReset().run();
        }
    }

    /** Starts a new rate-limit period if the last one is over; true while there is quota left. */
    private boolean takeQuota() {
        if (quota == 0 && System.nanoTime() - periodStart >= periodNanos) {
            quota = maxBytesPerPeriod;
            periodStart = System.nanoTime();
        }
        return quota > 0;
    }

    private void scheduleRefill() {
        if (refillScheduled) {
            return;
        }
        refillScheduled = true;
        long wakeAt = periodStart + periodNanos;
        long life = generation;
        Thread.ofVirtual().name("virtio-rng-refill").start(() -> {
            long wait;
            while ((wait = wakeAt - System.nanoTime()) > 0) {
                try {
                    Thread.sleep(Duration.ofNanos(wait));
                } catch (InterruptedException e) {
                    return;
                }
            }
            synchronized (this) {
                if (generation != life) {
                    return;
                }
                refillScheduled = false;
            }
            process();
        });
    }

    /** Fills the writable part of {@code chain} up to the request cap and the quota; returns the bytes written. */
    private int fill(DescriptorChain chain) {
        int total = (int) Math.min(Math.min(chain.writableLength(), MAX_REQUEST_BYTES), quota);
        int done = 0;
        while (done < total) {
            if (poolPosition == CHUNK) {
                source.nextBytes(pool);
                poolPosition = 0;
            }
            int count = Math.min(CHUNK - poolPosition, total - done);
            chain.write(done, pool, poolPosition, count);
            // Each byte goes to the guest once: a repeat would be predictable.
            poolPosition += count;
            done += count;
        }
        return done;
    }
}
