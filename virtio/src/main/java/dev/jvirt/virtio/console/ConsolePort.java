package dev.jvirt.virtio.console;

import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioInterrupts;
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
 * One port of a virtio console: its receive queue carries host input into buffers the driver
 * posted, its transmit queue carries guest output to an {@link OutputStream}.
 *
 * <p>Output is written on a transmit worker (by default a virtual thread started per burst of
 * kicks), never on the vCPU or ioeventfd thread that kicked: the host stream may block (a
 * terminal that stopped reading), and the guest then just runs out of transmit buffers.
 *
 * <p>Input is taken into a bounded buffer and moved into receive buffers as the driver posts
 * them. While no receive buffer is posted, input waits in that buffer; when the buffer is
 * full, {@link #enqueueInput} takes nothing more and {@link #enqueueInputFully} waits (no loss,
 * no spinning) until the driver's next receive kick makes room. Input survives a device reset,
 * like unread input on a tty.
 *
 * <p>A receive chain without a writable part is returned used with length 0, a transmit
 * chain's writable part is ignored: QEMU's virtio-serial copies only into in-buffers and only
 * out of out-buffers. Ring violations go to the device's {@link Breakage}.
 */
public final class ConsolePort {

    public static final int DEFAULT_INPUT_CAPACITY = 64 * 1024;

    /** How a port reports a broken ring to its device, and learns that the device is broken. */
    interface Breakage {
        boolean isBroken();

        void fail(String where, VirtioException e);
    }

    private static final System.Logger LOG = System.getLogger(ConsolePort.class.getName());
    private static final int TRANSMIT_CHUNK = 4096;

    private final String name;
    private final OutputStream output;
    private final Executor transmitter;
    private Breakage breakage;
    private VirtioInterrupts interrupts;

    /** Guards the receive queue and the pending input; waited on for room. */
    private final Object receiveLock = new Object();
    private Virtqueue receiveQueue;
    private int receiveIndex;
    private final byte[] pending;
    private int pendingStart;
    private int pendingCount;
    /**
     * Whether the guest takes input now. A multiport driver throws away data for a port no
     * guest program has open, so input waits here until the driver says it is open.
     */
    private boolean receiveOpen = true;

    /** Guards the transmit queue and the worker's state. */
    private final Object transmitLock = new Object();
    private Virtqueue transmitQueue;
    private int transmitIndex;
    private boolean transmitKicked;
    private boolean transmitRunning;
    /** Bumped on attach and detach: a chain popped in an older life is not returned. */
    private long generation;
    /** Used by the one transmit worker that runs at a time. */
    private final byte[] transmitBuffer = new byte[TRANSMIT_CHUNK];
    private volatile boolean outputFailed;

    /**
     * A port named {@code name} (for messages, and the name a multiport driver sees) writing
     * guest output to {@code output} on tasks run by {@code transmitter} (one at a time), with
     * room for {@code inputCapacity} bytes of host input waiting for receive buffers.
     */
    public ConsolePort(String name, OutputStream output, Executor transmitter, int inputCapacity) {
        this.name = Objects.requireNonNull(name, "name");
        this.output = Objects.requireNonNull(output, "output");
        this.transmitter = Objects.requireNonNull(transmitter, "transmitter");
        if (inputCapacity < 1) {
            throw new IllegalArgumentException("input capacity must be positive, not " + inputCapacity);
        }
        this.pending = new byte[inputCapacity];
    }

    /** Output written on virtual threads, 64 KiB of input buffering. */
    public ConsolePort(String name, OutputStream output) {
        this(name, output, virtualThreads(name), DEFAULT_INPUT_CAPACITY);
    }

    static Executor virtualThreads(String name) {
        return runnable -> Thread.ofVirtual().name(name + "-tx").start(runnable);
    }

    public String name() {
        return name;
    }

    /**
     * The driver made the port's queues ready (either may be null: left off). Pending input
     * and output queued before the driver's kicks could reach us are served at once.
     */
    void attach(Virtqueue receive, int receiveIndex, Virtqueue transmit, int transmitIndex,
                VirtioInterrupts interrupts, Breakage breakage) {
        synchronized (transmitLock) {
            this.interrupts = interrupts;
            this.breakage = breakage;
            this.transmitQueue = transmit;
            this.transmitIndex = transmitIndex;
            generation++;
        }
        synchronized (receiveLock) {
            this.receiveQueue = receive;
            this.receiveIndex = receiveIndex;
            deliverPending();
        }
        kickTransmit();
    }

    /** The device was reset: the queues are no longer ours. */
    void detach() {
        synchronized (transmitLock) {
            transmitQueue = null;
            generation++;
        }
        synchronized (receiveLock) {
            receiveQueue = null;
        }
    }

    void setReceiveOpen(boolean open) {
        synchronized (receiveLock) {
            receiveOpen = open;
            deliverPending();
        }
    }

    void receiveKicked() {
        synchronized (receiveLock) {
            deliverPending();
        }
    }

    // ---- input: host to guest ----

    /**
     * Takes as much of {@code data} as the input buffer has room for and returns how much that
     * was; posted receive buffers receive it at once.
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
        return Thread.ofPlatform().daemon().name(name + "-input").start(() -> {
            byte[] buffer = new byte[4096];
            try {
                int count;
                while ((count = input.read(buffer)) > 0) {
                    enqueueInputFully(buffer, 0, count);
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, name + ": input stream failed, no more input: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /** Moves pending input into posted receive buffers. Caller holds {@link #receiveLock}. */
    private void deliverPending() {
        Virtqueue queue = receiveQueue;
        if (queue == null || !receiveOpen || pendingCount == 0 || breakage.isBroken()) {
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
                queue.addUsed(chain.head(), count);
                used = true;
            }
        } catch (VirtioException e) {
            breakage.fail(name + " receive queue", e);
        }
        if (used) {
            receiveLock.notifyAll();
            if (!breakage.isBroken() && queue.needsInterrupt()) {
                interrupts.usedBuffers(receiveIndex);
            }
        }
    }

    // ---- output: guest to host ----

    void kickTransmit() {
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
            LOG.log(System.Logger.Level.ERROR, name + ": cannot start the transmit worker", e);
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
                if (queue == null || breakage.isBroken()) {
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
                    breakage.fail(name + " transmit queue", e);
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
                    interrupts.usedBuffers(transmitIndex);
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
            LOG.log(System.Logger.Level.WARNING, name + ": output failed, guest output is dropped: " + e.getMessage());
        }
    }
}
