package dev.jvirt.virtio.blk;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.queue.Virtqueue;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.TestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * A guest's virtio-blk driver for tests: sets up the request queues as a transport would after
 * the driver's register writes, activates the device, and sends requests the way Linux's
 * virtio_blk does (header, data, status byte), waiting for them to come back used.
 */
final class BlkGuest implements AutoCloseable {

    /** Where each queue's rings and buffers live: 4 MiB apiece. */
    private static final long QUEUE_SPAN = 4L << 20;
    static final int RING_SIZE = 16;

    record Completion(int status, int usedLength, byte[] data) {
    }

    final GuestMemory memory;
    final VirtioBlock device;
    final List<DriverQueue> drivers = new ArrayList<>();
    final List<Virtqueue> queues = new ArrayList<>();
    final AtomicInteger needsReset = new AtomicInteger();
    /** Runs inside the needsReset callback first, as a transport's own locking would. */
    volatile Runnable needsResetHook = () -> { };
    final AtomicIntegerArray interrupts;
    private final Semaphore interruptRaised = new Semaphore(0);

    BlkGuest(VirtioBlock device) {
        this.device = device;
        this.memory = TestMemory.allocate(QUEUE_SPAN * device.queueCount());
        this.interrupts = new AtomicIntegerArray(device.queueCount());
    }

    /** Negotiates {@code features} (masked by what the device offers) and sets DRIVER_OK. */
    BlkGuest activate(long features) throws VirtioException {
        drivers.clear();
        queues.clear();
        for (int i = 0; i < device.queueCount(); i++) {
            DriverQueue driver = new DriverQueue(memory, QUEUE_SPAN * i + 0x1000, RING_SIZE);
            Virtqueue queue = new Virtqueue(device.queueMaxSize(i));
            driver.configure(queue);
            drivers.add(driver);
            queues.add(queue);
        }
        VirtioInterrupts sink = new VirtioInterrupts() {
            @Override
            public void usedBuffers(int queue) {
                interrupts.incrementAndGet(queue);
                interruptRaised.release();
            }

            @Override
            public void configChanged() {
            }
        };
        device.activate(new DeviceContext(memory, features & device.deviceFeatures(), queues, sink,
                () -> {
                    needsResetHook.run();
                    needsReset.incrementAndGet();
                    interruptRaised.release();
                }));
        return this;
    }

    BlkGuest activate() throws VirtioException {
        return activate(~0L);
    }

    DriverQueue driver(int queue) {
        return drivers.get(queue);
    }

    static byte[] header(int type, long sector) {
        return ByteBuffer.allocate(VirtioBlk.REQUEST_HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(0, type).putLong(8, sector).array();
    }

    static byte[] segment(long sector, int sectors, int flags) {
        return ByteBuffer.allocate(VirtioBlk.SEGMENT_SIZE).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(0, sector).putInt(8, sectors).putInt(12, flags).array();
    }

    /**
     * Sends one request on {@code queue} as separate header / payload / data / status buffers and
     * waits for it: {@code payload} is what the device reads after the header (null for none),
     * {@code dataIn} how many bytes the device may write before the status byte.
     */
    Completion request(int queue, int type, long sector, byte[] payload, int dataIn) {
        DriverQueue driver = drivers.get(queue);
        List<DriverQueue.Buffer> buffers = new ArrayList<>();
        buffers.add(DriverQueue.Buffer.readable(driver.allocate(header(type, sector)), VirtioBlk.REQUEST_HEADER_SIZE));
        if (payload != null) {
            buffers.add(DriverQueue.Buffer.readable(driver.allocate(payload), payload.length));
        }
        long data = 0;
        if (dataIn > 0) {
            data = driver.allocate(dataIn);
            buffers.add(DriverQueue.Buffer.writable(data, dataIn));
        }
        long status = driver.allocate(1);
        memory.writeU8(status, 0xEE);
        buffers.add(DriverQueue.Buffer.writable(status, 1));
        int head = driver.addChain(buffers);
        device.queueNotify(queue);
        DriverQueue.Used used = awaitUsed(queue);
        if (used.head() != head) {
            throw new AssertionError("used head " + used.head() + ", sent " + head);
        }
        return new Completion(memory.readU8(status), used.length(), dataIn > 0 ? memory.read(data, dataIn) : new byte[0]);
    }

    Completion request(int type, long sector, byte[] payload, int dataIn) {
        return request(0, type, sector, payload, dataIn);
    }

    Completion read(long sector, int length) {
        return request(VirtioBlk.T_IN, sector, null, length);
    }

    Completion write(long sector, byte[] data) {
        return request(VirtioBlk.T_OUT, sector, data, 0);
    }

    /** The next used element of {@code queue}, waiting up to 5 s for the device. */
    DriverQueue.Used awaitUsed(int queue) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            DriverQueue.Used used = drivers.get(queue).nextUsed();
            if (used != null) {
                return used;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("queue " + queue + ": no used buffer within 5 s (needs reset: " + needsReset.get() + ")");
            }
            try {
                interruptRaised.tryAcquire(10, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    /** Waits up to 5 s for the device to ask for a reset. */
    void awaitNeedsReset() {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (needsReset.get() == 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("device did not ask for a reset within 5 s");
            }
            try {
                interruptRaised.tryAcquire(10, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    @Override
    public void close() throws Exception {
        device.close();
        memory.close();
    }
}
