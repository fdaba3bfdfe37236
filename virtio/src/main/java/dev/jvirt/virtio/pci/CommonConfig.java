package dev.jvirt.virtio.pci;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.Virtqueue;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * The common configuration structure of virtio-pci (virtio 1.2, section 4.1.4.3): feature
 * negotiation, the device status and its life cycle, and the per-queue registers behind
 * queue_select. Register accesses come from vCPU threads and are serialised here; nothing a
 * device thread does takes this lock (a device whose reset joins its worker, while that
 * worker reports NEEDS_RESET, must not deadlock), so the status is an atomic and kicks check
 * a volatile flag.
 */
final class CommonConfig {

    static final int DEVICE_FEATURE_SELECT = 0x00, DEVICE_FEATURE = 0x04;
    static final int DRIVER_FEATURE_SELECT = 0x08, DRIVER_FEATURE = 0x0C;
    static final int CONFIG_MSIX_VECTOR = 0x10, NUM_QUEUES = 0x12;
    static final int DEVICE_STATUS = 0x14, CONFIG_GENERATION = 0x15;
    static final int QUEUE_SELECT = 0x16, QUEUE_SIZE = 0x18, QUEUE_MSIX_VECTOR = 0x1A;
    static final int QUEUE_ENABLE = 0x1C, QUEUE_NOTIFY_OFF = 0x1E;
    static final int QUEUE_DESC = 0x20, QUEUE_DRIVER = 0x28, QUEUE_DEVICE = 0x30;
    /** The 1.0 layout's length; the 1.2 fields after it (notification data, queue reset) belong to features we do not offer. */
    static final int LENGTH = 0x38;

    /**
     * Transport feature bits (24-41) this transport does not implement: the legacy-only ones and
     * packed rings, SR-IOV, notification data, queue reset, admin queues. A device cannot offer them.
     */
    static final long UNSUPPORTED_TRANSPORT_FEATURES = VirtioFeatures.bit(24) | VirtioFeatures.bit(27) | VirtioFeatures.bit(30)
            | VirtioFeatures.bit(34) | VirtioFeatures.bit(37) | VirtioFeatures.bit(38) | VirtioFeatures.bit(39)
            | VirtioFeatures.bit(40) | VirtioFeatures.bit(41);

    private final String name;
    private final VirtioDevice device;
    private final GuestMemory memory;
    private final VirtioPciInterrupts interrupts;
    private final NotifyRouter router;
    /** Guest physical address of queue 0's notify register (it moves when the guest reprograms the BAR). */
    private final LongSupplier notifyBase;
    private final int notifyMultiplier;
    private final Virtqueue[] queues;
    private final NotifyRouter.Route[] routes;
    private final long offeredFeatures;

    private final AtomicInteger status = new AtomicInteger();
    /** DRIVER_OK accepted and the device activated: kicks go to the device. */
    private volatile boolean active;
    private int deviceFeatureSelect;
    private int driverFeatureSelect;
    private long driverFeatures;
    private int queueSelect;

    CommonConfig(VirtioDevice device, GuestMemory memory, VirtioPciInterrupts interrupts, NotifyRouter router,
                 LongSupplier notifyBase, int notifyMultiplier) {
        this.name = "virtio-pci(type " + device.deviceType() + ")";
        this.device = device;
        this.memory = memory;
        this.interrupts = interrupts;
        this.router = router;
        this.notifyBase = notifyBase;
        this.notifyMultiplier = notifyMultiplier;
        this.queues = new Virtqueue[device.queueCount()];
        for (int q = 0; q < queues.length; q++) {
            queues[q] = new Virtqueue(device.queueMaxSize(q));
        }
        this.routes = new NotifyRouter.Route[queues.length];
        this.offeredFeatures = (device.deviceFeatures() & ~UNSUPPORTED_TRANSPORT_FEATURES) | VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    }

    long offeredFeatures() {
        return offeredFeatures;
    }

    int status() {
        return status.get();
    }

    /** Reads a register at its natural width (64-bit addresses also as 32-bit halves); anything else reads 0. */
    synchronized long read(int offset, int size) {
        Virtqueue queue = selectedQueue();
        return switch (size) {
            case 1 -> switch (offset) {
                case DEVICE_STATUS -> status.get();
                case CONFIG_GENERATION -> interrupts.generation();
                default -> 0;
            };
            case 2 -> switch (offset) {
                case CONFIG_MSIX_VECTOR -> interrupts.configVector();
                case NUM_QUEUES -> queues.length;
                case QUEUE_SELECT -> queueSelect;
                case QUEUE_SIZE -> queue == null ? 0 : queue.size() & 0xFFFF;
                case QUEUE_MSIX_VECTOR -> queue == null ? VirtioPciInterrupts.NO_VECTOR : interrupts.queueVector(queueSelect);
                case QUEUE_ENABLE -> queue != null && queue.isReady() ? 1 : 0;
                case QUEUE_NOTIFY_OFF -> queue == null ? 0 : queueSelect;
                default -> 0;
            };
            case 4 -> switch (offset) {
                case DEVICE_FEATURE_SELECT -> Integer.toUnsignedLong(deviceFeatureSelect);
                case DEVICE_FEATURE -> featureWord(offeredFeatures, deviceFeatureSelect);
                case DRIVER_FEATURE_SELECT -> Integer.toUnsignedLong(driverFeatureSelect);
                case DRIVER_FEATURE -> featureWord(driverFeatures, driverFeatureSelect);
                default -> queue == null || offset < QUEUE_DESC || offset >= LENGTH ? 0
                        : (queueAddress(queue, offset & ~7) >>> (8 * (offset & 4))) & 0xFFFF_FFFFL;
            };
            case 8 -> queue == null || offset < QUEUE_DESC || offset >= LENGTH || (offset & 7) != 0 ? 0 : queueAddress(queue, offset);
            default -> 0;
        };
    }

    private static long featureWord(long features, int select) {
        return switch (select) {
            case 0 -> features & 0xFFFF_FFFFL;
            case 1 -> features >>> 32;
            default -> 0;
        };
    }

    private static long queueAddress(Virtqueue queue, int offset) {
        return switch (offset) {
            case QUEUE_DESC -> queue.descriptorTableAddress();
            case QUEUE_DRIVER -> queue.availableRingAddress();
            default -> queue.usedRingAddress();
        };
    }

    synchronized void write(int offset, int size, long value) {
        int v = (int) value;
        switch (size) {
            case 1 -> {
                if (offset == DEVICE_STATUS) {
                    writeStatus(v & 0xFF);
                }
            }
            case 2 -> {
                switch (offset) {
                    case CONFIG_MSIX_VECTOR -> interrupts.setConfigVector(v & 0xFFFF);
                    case QUEUE_SELECT -> queueSelect = v & 0xFFFF;
                    case QUEUE_SIZE -> {
                        Virtqueue queue = configurableQueue();
                        if (queue != null) {
                            queue.setSize(v & 0xFFFF);
                        }
                    }
                    case QUEUE_MSIX_VECTOR -> {
                        if (selectedQueue() != null) {
                            interrupts.setQueueVector(queueSelect, v & 0xFFFF);
                        }
                    }
                    case QUEUE_ENABLE -> {
                        // Writing 0 is only meaningful with VIRTIO_F_RING_RESET, which we do not offer.
                        Virtqueue queue = configurableQueue();
                        if (queue != null && (v & 0xFFFF) == 1) {
                            queue.setReady(true);
                        }
                    }
                    default -> { }
                }
            }
            case 4 -> {
                switch (offset) {
                    case DEVICE_FEATURE_SELECT -> deviceFeatureSelect = v;
                    case DRIVER_FEATURE_SELECT -> driverFeatureSelect = v;
                    case DRIVER_FEATURE -> writeDriverFeatures(v);
                    default -> {
                        if (offset >= QUEUE_DESC && offset < LENGTH) {
                            int shift = 8 * (offset & 4);
                            long mask = 0xFFFF_FFFFL << shift;
                            Virtqueue queue = configurableQueue();
                            if (queue != null) {
                                long old = queueAddress(queue, offset & ~7);
                                setQueueAddress(queue, offset & ~7, (old & ~mask) | ((Integer.toUnsignedLong(v) << shift) & mask));
                            }
                        }
                    }
                }
            }
            case 8 -> {
                Virtqueue queue = configurableQueue();
                if (queue != null && offset >= QUEUE_DESC && offset < LENGTH && (offset & 7) == 0) {
                    setQueueAddress(queue, offset, value);
                }
            }
            default -> { }
        }
    }

    private static void setQueueAddress(Virtqueue queue, int offset, long address) {
        switch (offset) {
            case QUEUE_DESC -> queue.setDescriptorTableAddress(address);
            case QUEUE_DRIVER -> queue.setAvailableRingAddress(address);
            default -> queue.setUsedRingAddress(address);
        }
    }

    private Virtqueue selectedQueue() {
        return queueSelect < queues.length ? queues[queueSelect] : null;
    }

    /** The selected queue, if its registers may change: not once the device runs (a running queue is the device's). */
    private Virtqueue configurableQueue() {
        return active ? null : selectedQueue();
    }

    private void writeDriverFeatures(int word) {
        // Section 2.2.2: the device must not accept new features once FEATURES_OK is set.
        if ((status.get() & VirtioFeatures.STATUS_FEATURES_OK) != 0) {
            return;
        }
        switch (driverFeatureSelect) {
            case 0 -> driverFeatures = (driverFeatures & ~0xFFFF_FFFFL) | Integer.toUnsignedLong(word);
            case 1 -> driverFeatures = (driverFeatures & 0xFFFF_FFFFL) | (Integer.toUnsignedLong(word) << 32);
            default -> { }
        }
    }

    private void writeStatus(int value) {
        if (value == 0) {
            reset();
            return;
        }
        int old = status.get();
        int next = value & ~VirtioFeatures.STATUS_NEEDS_RESET; // the device's bit, not the driver's
        if ((next & VirtioFeatures.STATUS_FEATURES_OK) != 0 && (old & VirtioFeatures.STATUS_FEATURES_OK) == 0
                && !featuresAcceptable()) {
            // Section 3.1.1: the driver re-reads the status and gives up when FEATURES_OK did not stick.
            next &= ~VirtioFeatures.STATUS_FEATURES_OK;
        }
        int accepted = next;
        status.getAndUpdate(s -> accepted | (s & VirtioFeatures.STATUS_NEEDS_RESET));
        if ((next & VirtioFeatures.STATUS_DRIVER_OK) != 0 && !active
                && (status.get() & VirtioFeatures.STATUS_NEEDS_RESET) == 0) {
            activate();
        }
    }

    private boolean featuresAcceptable() {
        return (driverFeatures & ~offeredFeatures) == 0 && (driverFeatures & VirtioFeatures.bit(VirtioFeatures.VERSION_1)) != 0;
    }

    private void activate() {
        try {
            if ((status.get() & VirtioFeatures.STATUS_FEATURES_OK) == 0) {
                throw new VirtioException("DRIVER_OK without FEATURES_OK");
            }
            boolean eventIndex = (driverFeatures & VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)) != 0;
            boolean indirect = (driverFeatures & VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)) != 0;
            for (int q = 0; q < queues.length; q++) {
                if (queues[q].isReady()) {
                    try {
                        queues[q].activate(memory, eventIndex, indirect);
                    } catch (VirtioException e) {
                        throw new VirtioException("queue " + q + ": " + e.getMessage());
                    }
                }
            }
            device.activate(new DeviceContext(memory, driverFeatures, List.of(queues), interrupts, this::needsReset));
        } catch (VirtioException | RuntimeException e) {
            System.err.println(name + ": activation refused, device needs reset: " + e.getMessage());
            needsReset();
            return;
        }
        active = true;
        long base = notifyBase.getAsLong();
        for (int q = 0; q < queues.length; q++) {
            if (queues[q].isReady()) {
                int queue = q;
                try {
                    routes[q] = router.route(base + (long) notifyMultiplier * q, 2, () -> kick(queue));
                } catch (RuntimeException e) {
                    // The MMIO exit still reaches us; only the fast path is lost.
                    System.err.println(name + ": no notify route for queue " + q + ": " + e.getMessage());
                }
            }
        }
    }

    /** Sets NEEDS_RESET and tells the driver; called by the device from any thread. */
    void needsReset() {
        int before = status.getAndUpdate(s -> s == 0 ? s : s | VirtioFeatures.STATUS_NEEDS_RESET);
        if (before != 0 && (before & VirtioFeatures.STATUS_NEEDS_RESET) == 0) {
            interrupts.signalConfig();
        }
    }

    /** A driver kick for {@code queue} (an MMIO write to its notify register, or a route). */
    void kick(int queue) {
        if (active && queue >= 0 && queue < queues.length && queues[queue].isReady()) {
            device.queueNotify(queue);
        }
    }

    /** Status 0 (section 4.1.4.3.1): the device forgets the driver; the reset is complete when this returns. */
    synchronized void reset() {
        active = false;
        for (int q = 0; q < routes.length; q++) {
            if (routes[q] != null) {
                routes[q].close();
                routes[q] = null;
            }
        }
        device.reset();
        for (Virtqueue queue : queues) {
            queue.reset();
        }
        deviceFeatureSelect = 0;
        driverFeatureSelect = 0;
        driverFeatures = 0;
        queueSelect = 0;
        interrupts.reset();
        status.set(0);
    }
}
