package dev.jvirt.virtio.console;

import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.Descriptor;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * virtio-console (virtio 1.2, section 5.3) with one port, the guest's hvc0: receiveq 0 carries
 * host input into buffers the driver posted, transmitq 1 carries guest output to an
 * {@link OutputStream}. MULTIPORT is not offered, so there are no control queues.
 *
 * <p>Output is written on a transmit worker (by default a virtual thread started per burst of
 * kicks), never on the vCPU or ioeventfd thread that kicked: the host stream may block (a
 * terminal that stopped reading), and the guest then just runs out of transmit buffers.
 *
 * <p>Input is taken into a bounded buffer and moved into receive buffers as the driver posts
 * them. While no receive buffer is posted, input waits in that buffer; when the buffer is
 * full, {@link #enqueueInput} takes nothing more and {@link #enqueueInputFully} waits (no loss,
 * no spinning) until the driver's next receive kick makes room.
 *
 * <p>Guest errors: a ring violation the queue layer reports puts the device in NEEDS_RESET (as
 * QEMU's virtio_error does). A receive chain without a writable part is returned used with
 * length 0, a transmit chain's writable part is ignored: QEMU's virtio-serial copies only
 * into in-buffers and only out of out-buffers.
 */
public final class VirtioConsole implements VirtioDevice {

    public static final int RECEIVEQ = 0;
    public static final int TRANSMITQ = 1;
    public static final int QUEUE_SIZE = 128;

    /** Feature bits (5.3.3). */
    public static final int F_SIZE = 0;
    public static final int F_MULTIPORT = 1;
    public static final int F_EMERG_WRITE = 2;

    /** struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
    public static final int CONFIG_SIZE = 12;
    public static final int DEFAULT_INPUT_CAPACITY = 64 * 1024;

    private static final System.Logger LOG = System.getLogger(VirtioConsole.class.getName());
    private static final int TRANSMIT_CHUNK = 4096;
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)
            | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)
            | VirtioFeatures.bit(F_SIZE);

    private final OutputStream output;
    private final Executor transmitter;

    private volatile DeviceContext context;
    private volatile boolean broken;
    private volatile int columns;
    private volatile int rows;

    /** Guards the receive queue and the pending input; waited on for room. */
    private final Object receiveLock = new Object();
    private Virtqueue receiveQueue;
    private final byte[] pending;
    private int pendingStart;
    private int pendingCount;

    /** Guards the transmit queue and the worker's state. */
    private final Object transmitLock = new Object();
    private Virtqueue transmitQueue;
    private boolean transmitKicked;
    private boolean transmitRunning;
    /** Bumped on activation and reset: a chain popped in an older life is not returned. */
    private long generation;
    /** Used by the one transmit worker that runs at a time. */
    private final byte[] transmitBuffer = new byte[TRANSMIT_CHUNK];
    private boolean outputFailed;

    /** Guest output to {@code output}, written on virtual threads; 64 KiB of input buffering. */
    public VirtioConsole(OutputStream output) {
        this(output, runnable -> Thread.ofVirtual().name("virtio-console-tx").start(runnable), DEFAULT_INPUT_CAPACITY);
    }

    /**
     * Guest output to {@code output}, written by tasks run on {@code transmitter} (one at a
     * time); up to {@code inputCapacity} bytes of host input wait for receive buffers.
     */
    public VirtioConsole(OutputStream output, Executor transmitter, int inputCapacity) {
        this.output = Objects.requireNonNull(output, "output");
        this.transmitter = Objects.requireNonNull(transmitter, "transmitter");
        if (inputCapacity < 1) {
            throw new IllegalArgumentException("input capacity must be positive, not " + inputCapacity);
        }
        this.pending = new byte[inputCapacity];
    }

    @Override
    public int deviceType() {
        return VirtioDeviceType.CONSOLE;
    }

    @Override
    public long deviceFeatures() {
        return FEATURES;
    }

    @Override
    public int queueCount() {
        return 2;
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
        int value = 0;
        for (int i = size - 1; i >= 0; i--) {
            value = (value << 8) | configByte(offset + i);
        }
        return value;
    }

    private int configByte(int offset) {
        return switch (offset) {
            case 0 -> columns & 0xFF;
            case 1 -> (columns >> 8) & 0xFF;
            case 2 -> rows & 0xFF;
            case 3 -> (rows >> 8) & 0xFF;
            case 4 -> 1; // max_nr_ports: only meaningful with MULTIPORT, but QEMU reports it too
            default -> 0; // emerg_wr reads as 0; max_nr_ports' upper bytes
        };
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // cols, rows and max_nr_ports are the device's; emerg_wr needs EMERG_WRITE, not offered.
    }

    /**
     * The host terminal's size (F_SIZE), e.g. after SIGWINCH. A running driver is told with a
     * configuration change interrupt and resizes hvc0.
     */
    public void setWindowSize(int columns, int rows) {
        if (columns < 0 || columns > 0xFFFF || rows < 0 || rows > 0xFFFF) {
            throw new IllegalArgumentException("window size " + columns + "x" + rows + " does not fit 16 bits");
        }
        boolean changed = columns != this.columns || rows != this.rows;
        this.columns = columns;
        this.rows = rows;
        DeviceContext active = context;
        if (changed && active != null && active.hasFeature(F_SIZE)) {
            active.interrupts().configChanged();
        }
    }

    @Override
    public void activate(DeviceContext context) throws VirtioException {
        Virtqueue rx = usable(context, RECEIVEQ);
        Virtqueue tx = usable(context, TRANSMITQ);
        broken = false;
        this.context = context;
        synchronized (transmitLock) {
            transmitQueue = tx;
            generation++;
        }
        synchronized (receiveLock) {
            receiveQueue = rx;
            // Input typed before the driver came up goes out as soon as it posts buffers.
            deliverPending();
        }
        // Output made available before DRIVER_OK had its kick dropped by the transport.
        kickTransmit();
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
                throw new VirtioException("virtio-console queue " + index + ": " + e.getMessage());
            }
        }
        return queue;
    }

    @Override
    public void queueNotify(int queue) {
        if (queue == RECEIVEQ) {
            synchronized (receiveLock) {
                deliverPending();
            }
        } else if (queue == TRANSMITQ) {
            kickTransmit();
        }
    }

    @Override
    public void reset() {
        synchronized (transmitLock) {
            transmitQueue = null;
            generation++;
        }
        synchronized (receiveLock) {
            receiveQueue = null;
        }
        context = null;
    }

    // ---- input: host to guest ----

    /**
     * Takes as much of {@code data} as the input buffer has room for and returns how much that
     * was; what receive buffers are posted receive it at once.
     */
    public int enqueueInput(byte[] data, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, data.length);
        synchronized (receiveLock) {
            int taken = Math.min(length, pending.length - pendingCount);
            int tail = (pendingStart + pendingCount) % pending.length;
            int first = Math.min(taken, pending.length - tail);
            System.arraycopy(data, offset, pending, tail, first);
            System.arraycopy(data, offset + first, pending, 0, taken - first);
            pendingCount += taken;
            deliverPending();
            return taken;
        }
    }

    public int enqueueInput(byte[] data) {
        return enqueueInput(data, 0, data.length);
    }

    /** Blocks until the input buffer has room for at least one byte. */
    public void awaitRoom() throws InterruptedException {
        synchronized (receiveLock) {
            while (pendingCount == pending.length) {
                receiveLock.wait();
            }
        }
    }

    /** Feeds all of {@code data}, waiting for the guest to take input as needed, so no byte is lost. */
    public void enqueueInputFully(byte[] data, int offset, int length) throws InterruptedException {
        Objects.checkFromIndexSize(offset, length, data.length);
        int done = 0;
        while (done < length) {
            synchronized (receiveLock) {
                awaitRoom();
                done += enqueueInput(data, offset + done, length - done);
            }
        }
    }

    /** Bytes of host input the guest has not received yet. */
    public int pendingInput() {
        synchronized (receiveLock) {
            return pendingCount;
        }
    }

    /**
     * Starts a daemon thread that copies {@code input} (the VMM's stdin, a socket) to the guest
     * until end of stream, an error, or an interrupt of the returned thread.
     */
    public Thread startInputPump(InputStream input) {
        Objects.requireNonNull(input, "input");
        return Thread.ofPlatform().daemon().name("virtio-console-input").start(() -> {
            byte[] buffer = new byte[4096];
            try {
                int count;
                while ((count = input.read(buffer)) > 0) {
                    enqueueInputFully(buffer, 0, count);
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "virtio-console: input stream failed, no more input: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /** Moves pending input into posted receive buffers. Caller holds {@link #receiveLock}. */
    private void deliverPending() {
        Virtqueue queue = receiveQueue;
        if (queue == null || broken || pendingCount == 0) {
            return;
        }
        boolean used = false;
        try {
            while (pendingCount > 0) {
                DescriptorChain chain = queue.pop();
                if (chain == null) {
                    // Notifications stay on for this queue, so the driver's next buffer kicks us.
                    break;
                }
                int count = (int) Math.min(pendingCount, chain.writableLength());
                int first = Math.min(count, pending.length - pendingStart);
                chain.write(0, pending, pendingStart, first);
                chain.write(first, pending, 0, count - first);
                pendingStart = (pendingStart + count) % pending.length;
                pendingCount -= count;
                if (chain.writableLength() == 0) {
                    LOG.log(System.Logger.Level.DEBUG, "virtio-console: receive buffer without writable part, returned empty");
                }
                queue.addUsed(chain.head(), count);
                used = true;
            }
        } catch (VirtioException e) {
            fail("receive", e);
        }
        if (used) {
            receiveLock.notifyAll();
            if (!broken && queue.needsInterrupt()) {
                context.interrupts().usedBuffers(RECEIVEQ);
            }
        }
    }

    // ---- output: guest to host ----

    private void kickTransmit() {
        synchronized (transmitLock) {
            if (transmitQueue == null) {
                return;
            }
            transmitKicked = true;
            if (transmitRunning) {
                return;
            }
            transmitRunning = true;
        }
        try {
            transmitter.execute(this::transmitWorker);
        } catch (RuntimeException e) {
            synchronized (transmitLock) {
                transmitRunning = false;
            }
            LOG.log(System.Logger.Level.ERROR, "virtio-console: cannot start the transmit worker", e);
        }
    }

    /** Runs until no kick is left unserved; a kick arriving meanwhile is seen by the loop, never lost. */
    private void transmitWorker() {
        while (true) {
            synchronized (transmitLock) {
                if (!transmitKicked || transmitQueue == null) {
                    transmitRunning = false;
                    return;
                }
                transmitKicked = false;
            }
            drainTransmit();
        }
    }

    private void drainTransmit() {
        while (true) {
            DescriptorChain chain;
            long life;
            synchronized (transmitLock) {
                Virtqueue queue = transmitQueue;
                if (queue == null || broken) {
                    return;
                }
                try {
                    queue.disableNotification();
                    chain = queue.pop();
                    if (chain == null) {
                        if (queue.enableNotification()) {
                            continue;
                        }
                        return;
                    }
                } catch (VirtioException e) {
                    fail("transmit", e);
                    return;
                }
                life = generation;
            }
            // The stream may block; the queue is not held meanwhile, so reset still proceeds.
            writeOut(chain);
            synchronized (transmitLock) {
                if (generation != life || transmitQueue == null) {
                    return;
                }
                transmitQueue.addUsed(chain.head(), 0);
                if (transmitQueue.needsInterrupt()) {
                    context.interrupts().usedBuffers(TRANSMITQ);
                }
            }
        }
    }

    private void writeOut(DescriptorChain chain) {
        if (outputFailed) {
            return;
        }
        try {
            for (Descriptor descriptor : chain.readable()) {
                MemorySegment memory = descriptor.memory();
                long length = memory.byteSize();
                for (long at = 0; at < length; at += TRANSMIT_CHUNK) {
                    int count = (int) Math.min(TRANSMIT_CHUNK, length - at);
                    MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, at, transmitBuffer, 0, count);
                    output.write(transmitBuffer, 0, count);
                }
            }
            output.flush();
        } catch (IOException e) {
            // The guest must not hang on a console nobody reads: its output is dropped from now on.
            outputFailed = true;
            LOG.log(System.Logger.Level.WARNING, "virtio-console: output failed, guest console output is dropped: " + e.getMessage());
        }
    }

    private void fail(String queue, VirtioException e) {
        broken = true;
        LOG.log(System.Logger.Level.WARNING, "virtio-console: " + queue + " queue: " + e.getMessage() + "; device needs reset");
        DeviceContext active = context;
        if (active != null) {
            active.needsReset().run();
        }
    }
}
