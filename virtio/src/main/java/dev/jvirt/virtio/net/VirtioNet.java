package dev.jvirt.virtio.net;

import dev.jvirt.net.FrameBackend;
import dev.jvirt.net.MacAddress;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.Virtqueue;

import java.io.IOException;
import java.util.List;

/**
 * A virtio network device (virtio 1.2, section 5.1) with one receive/transmit queue pair and a
 * {@link FrameBackend} (a TAP, usually) behind it.
 *
 * <p>Each queue has its own platform thread: transmit wakes on the driver's kicks and writes
 * each chain to the backend; receive waits on the backend and fills the guest's buffers, and
 * when the driver has posted none it stops reading (frames queue in the backend) until a kick.
 * Offloads are offered only as far as the backend supports them, and what the driver accepts
 * for receive is passed on to the backend at activation.
 *
 * <p>Configuration space: mac[6], status (LINK_UP), max_virtqueue_pairs (1), mtu; all read-only.
 */
public final class VirtioNet implements VirtioDevice {

    private static final System.Logger LOG = System.getLogger(VirtioNet.class.getName());

    public static final int RX_QUEUE = 0;
    public static final int TX_QUEUE = 1;
    public static final int CONFIG_SIZE = 12;

    /** Interrupt the driver at least this often while a burst of frames arrives. */
    private static final int RX_BATCH = 64;
    private static final long STOP_TIMEOUT_MILLIS = 5000;
    private static final long BACKEND_RETRY_MILLIS = 100;

    private final FrameBackend backend;
    private final VirtioNetOptions options;
    private final long offeredFeatures;
    private final NetCounters counters = new NetCounters();
    private final Object lifecycle = new Object();
    private volatile boolean linkUp = true;
    private volatile Activation active;

    public VirtioNet(FrameBackend backend, VirtioNetOptions options) {
        this.backend = backend;
        this.options = options;
        this.offeredFeatures = features(options, options.offloads() ? backend.supportedOffloads() : 0);
    }

    public VirtioNet(FrameBackend backend, MacAddress mac) {
        this(backend, VirtioNetOptions.of(mac));
    }

    private static long features(VirtioNetOptions options, int offloads) {
        long features = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
                | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)
                | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)
                | VirtioFeatures.bit(VirtioNetFeatures.MAC)
                | VirtioFeatures.bit(VirtioNetFeatures.STATUS)
                | VirtioFeatures.bit(VirtioNetFeatures.MRG_RXBUF);
        if (options.mtu() != 0) {
            features |= VirtioFeatures.bit(VirtioNetFeatures.MTU);
        }
        // Host and guest offloads pair up: a TAP that takes a kind of offloaded frame from us can
        // also hand us that kind, so each TUN_F_* bit opens both directions.
        if ((offloads & FrameBackend.OFFLOAD_CSUM) != 0) {
            features |= VirtioFeatures.bit(VirtioNetFeatures.CSUM) | VirtioFeatures.bit(VirtioNetFeatures.GUEST_CSUM);
            if ((offloads & FrameBackend.OFFLOAD_TSO4) != 0) {
                features |= VirtioFeatures.bit(VirtioNetFeatures.HOST_TSO4) | VirtioFeatures.bit(VirtioNetFeatures.GUEST_TSO4);
            }
            if ((offloads & FrameBackend.OFFLOAD_TSO6) != 0) {
                features |= VirtioFeatures.bit(VirtioNetFeatures.HOST_TSO6) | VirtioFeatures.bit(VirtioNetFeatures.GUEST_TSO6);
            }
            if ((offloads & FrameBackend.OFFLOAD_TSO_ECN) != 0
                    && (offloads & (FrameBackend.OFFLOAD_TSO4 | FrameBackend.OFFLOAD_TSO6)) != 0) {
                features |= VirtioFeatures.bit(VirtioNetFeatures.HOST_ECN) | VirtioFeatures.bit(VirtioNetFeatures.GUEST_ECN);
            }
            if ((offloads & FrameBackend.OFFLOAD_UFO) != 0) {
                features |= VirtioFeatures.bit(VirtioNetFeatures.HOST_UFO) | VirtioFeatures.bit(VirtioNetFeatures.GUEST_UFO);
            }
        }
        return features;
    }

    public MacAddress mac() {
        return options.mac();
    }

    public VirtioNetOptions options() {
        return options;
    }

    public NetCounters counters() {
        return counters;
    }

    public boolean isLinkUp() {
        return linkUp;
    }

    /**
     * Sets the link state the guest sees (QMP set_link). Down, no frame is received or sent;
     * a driver that negotiated STATUS gets a configuration change interrupt.
     */
    public void setLinkUp(boolean up) {
        if (linkUp == up) {
            return;
        }
        linkUp = up;
        Activation activation = active;
        if (activation != null) {
            activation.rxKicks.signal();
            if (activation.context.hasFeature(VirtioNetFeatures.STATUS)) {
                activation.context.interrupts().configChanged();
            }
        }
    }

    @Override
    public int deviceType() {
        return VirtioDeviceType.NET;
    }

    @Override
    public long deviceFeatures() {
        return offeredFeatures;
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public int queueMaxSize(int queue) {
        return options.queueSize();
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        if (offset < 0 || size < 1 || size > 4 || offset + size > CONFIG_SIZE) {
            return 0;
        }
        int value = 0;
        for (int i = 0; i < size; i++) {
            value |= configByte(offset + i) << (8 * i);
        }
        return value;
    }

    private int configByte(int offset) {
        return switch (offset) {
            case 0, 1, 2, 3, 4, 5 -> options.mac().octet(offset);
            case 6 -> linkUp ? VirtioNetFeatures.S_LINK_UP : 0;
            case 8 -> 1; // max_virtqueue_pairs
            case 10 -> options.mtu() & 0xFF;
            case 11 -> options.mtu() >>> 8;
            default -> 0;
        };
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // Every field is read-only for a VERSION_1 driver (the MAC is changed through a control
        // queue, which this device does not offer).
    }

    @Override
    public void activate(DeviceContext context) throws VirtioException {
        synchronized (lifecycle) {
            stop();
            if (!context.hasFeature(VirtioFeatures.VERSION_1)) {
                throw new VirtioException("virtio-net needs VIRTIO_F_VERSION_1 (legacy drivers are not supported)");
            }
            if ((context.features() & ~offeredFeatures) != 0) {
                throw new VirtioException("virtio-net features 0x" + Long.toHexString(context.features() & ~offeredFeatures)
                        + " were not offered");
            }
            List<Virtqueue> queues = context.queues();
            if (queues.size() != 2) {
                throw new VirtioException("virtio-net has 2 queues, got " + queues.size());
            }
            Virtqueue rxQueue = activateQueue(context, queues.get(RX_QUEUE), "receive");
            Virtqueue txQueue = activateQueue(context, queues.get(TX_QUEUE), "transmit");
            try {
                backend.setOffloads(receiveOffloads(context));
            } catch (IOException e) {
                throw new VirtioException("cannot set receive offloads on " + backend + ": " + e.getMessage());
            }
            boolean guestGso = context.hasFeature(VirtioNetFeatures.GUEST_TSO4) || context.hasFeature(VirtioNetFeatures.GUEST_TSO6)
                    || context.hasFeature(VirtioNetFeatures.GUEST_UFO);
            long largestFrame = guestGso ? VirtioNetHeader.MAX_GSO_PACKET : Math.max(backend.mtu(), options.mtu());
            long largestPacket = VirtioNetHeader.SIZE + VirtioNetHeader.ETHERNET_OVERHEAD + largestFrame;
            Activation activation = new Activation(context);
            RxPath rx = new RxPath(rxQueue, backend, counters, context.hasFeature(VirtioNetFeatures.MRG_RXBUF),
                    context.hasFeature(VirtioNetFeatures.GUEST_CSUM), largestPacket);
            TxPath tx = new TxPath(txQueue, backend, context, counters, () -> linkUp);
            // Published first: a kick that comes as the threads start must find its latch.
            active = activation;
            activation.start(rx, tx);
        }
    }

    /** The transport may have activated the queue already; otherwise the device does, with the negotiated ring features. */
    private static Virtqueue activateQueue(DeviceContext context, Virtqueue queue, String which) throws VirtioException {
        if (!queue.isActive()) {
            try {
                queue.activate(context.memory(), context.hasFeature(VirtioFeatures.RING_EVENT_IDX),
                        context.hasFeature(VirtioFeatures.RING_INDIRECT_DESC));
            } catch (VirtioException e) {
                throw new VirtioException("virtio-net " + which + " queue: " + e.getMessage());
            }
        }
        return queue;
    }

    /** The TUN_F_* bits the driver takes on receive, from its GUEST_* features. */
    static int receiveOffloads(DeviceContext context) {
        if (!context.hasFeature(VirtioNetFeatures.GUEST_CSUM)) {
            return 0;
        }
        int offloads = FrameBackend.OFFLOAD_CSUM;
        if (context.hasFeature(VirtioNetFeatures.GUEST_TSO4)) {
            offloads |= FrameBackend.OFFLOAD_TSO4;
        }
        if (context.hasFeature(VirtioNetFeatures.GUEST_TSO6)) {
            offloads |= FrameBackend.OFFLOAD_TSO6;
        }
        if (context.hasFeature(VirtioNetFeatures.GUEST_ECN)) {
            offloads |= FrameBackend.OFFLOAD_TSO_ECN;
        }
        if (context.hasFeature(VirtioNetFeatures.GUEST_UFO)) {
            offloads |= FrameBackend.OFFLOAD_UFO;
        }
        return offloads;
    }

    @Override
    public void queueNotify(int queue) {
        Activation activation = active;
        if (activation == null) {
            return;
        }
        switch (queue) {
            case RX_QUEUE -> activation.rxKicks.signal();
            case TX_QUEUE -> activation.txKicks.signal();
            default -> {
                // The transport only routes kicks for queues we declared; nothing else to do.
            }
        }
    }

    @Override
    public void reset() {
        synchronized (lifecycle) {
            stop();
            try {
                // Frames read from now on must suit whatever the next driver negotiates.
                backend.setOffloads(0);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "virtio-net: clearing offloads on " + backend + ": " + e.getMessage());
            }
        }
    }

    private void stop() {
        Activation activation = active;
        active = null;
        if (activation != null) {
            activation.stop();
        }
    }

    /** One DRIVER_OK..reset period: the two queue threads and their kick latches. */
    private final class Activation {

        final DeviceContext context;
        final Kicks rxKicks = new Kicks();
        final Kicks txKicks = new Kicks();
        volatile boolean stopping;
        private Thread rxThread;
        private Thread txThread;
        private boolean loggedBackendError;

        Activation(DeviceContext context) {
            this.context = context;
        }

        void start(RxPath rx, TxPath tx) {
            // Chains posted before activation were never kicked for: look at the queue once.
            txKicks.signal();
            rxThread = Thread.ofPlatform().daemon().name("virtio-net-rx " + backend).start(() -> receiveLoop(rx));
            txThread = Thread.ofPlatform().daemon().name("virtio-net-tx " + backend).start(() -> transmitLoop(tx));
        }

        void stop() {
            stopping = true;
            rxKicks.signal();
            txKicks.signal();
            backend.wakeup();
            join(rxThread);
            join(txThread);
        }

        private void join(Thread thread) {
            if (thread == null || thread == Thread.currentThread()) {
                return;
            }
            try {
                thread.join(STOP_TIMEOUT_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                LOG.log(System.Logger.Level.ERROR, "virtio-net: " + thread.getName() + " did not stop within " + STOP_TIMEOUT_MILLIS + " ms");
            }
        }

        private void receiveLoop(RxPath rx) {
            Virtqueue queue = rx.queue();
            int unsignalled = 0;
            try {
                while (!stopping) {
                    if (!linkUp) {
                        unsignalled = signal(queue, RX_QUEUE, unsignalled);
                        rxKicks.await(0);
                        continue;
                    }
                    try {
                        switch (rx.receiveOne()) {
                            case DELIVERED -> {
                                if (++unsignalled >= RX_BATCH) {
                                    unsignalled = signal(queue, RX_QUEUE, unsignalled);
                                }
                            }
                            case NO_FRAME -> {
                                unsignalled = signal(queue, RX_QUEUE, unsignalled);
                                backend.awaitReceive();
                            }
                            case NO_BUFFERS -> {
                                unsignalled = signal(queue, RX_QUEUE, unsignalled);
                                // Ask for a kick, then sleep unless buffers came in meanwhile.
                                if (!queue.enableNotification()) {
                                    rxKicks.await(0);
                                }
                                queue.disableNotification();
                            }
                        }
                    } catch (IOException e) {
                        counters.rxErrors.incrementAndGet();
                        backendError(e);
                        rxKicks.await(BACKEND_RETRY_MILLIS);
                    }
                }
            } catch (VirtioException e) {
                broken(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                broken(new VirtioException("receive failed: " + e));
            }
        }

        private void transmitLoop(TxPath tx) {
            Virtqueue queue = tx.queue();
            try {
                while (!stopping) {
                    txKicks.await(0);
                    do {
                        queue.disableNotification();
                        if (tx.drain()) {
                            signal(queue, TX_QUEUE, 1);
                        }
                    } while (!stopping && queue.enableNotification());
                }
            } catch (VirtioException e) {
                broken(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                broken(new VirtioException("transmit failed: " + e));
            }
        }

        private int signal(Virtqueue queue, int index, int added) {
            if (added > 0 && !stopping && queue.needsInterrupt()) {
                context.interrupts().usedBuffers(index);
            }
            return 0;
        }

        private synchronized void backendError(IOException e) {
            if (!loggedBackendError) {
                loggedBackendError = true;
                LOG.log(System.Logger.Level.WARNING, "virtio-net: " + backend + ": " + e.getMessage() + " (retrying; further errors counted only)");
            }
        }

        /** The driver broke the rules: both queues stop and the device asks to be reset. */
        private synchronized void broken(VirtioException e) {
            if (stopping) {
                return;
            }
            stopping = true;
            rxKicks.signal();
            txKicks.signal();
            backend.wakeup();
            LOG.log(System.Logger.Level.WARNING, "virtio-net: " + e.getMessage() + "; device needs reset");
            context.needsReset().run();
        }
    }
}
