package dev.jvirt.virtio.rng;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.queue.Virtqueue;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.DriverQueue.Buffer;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Plays Linux's virtio-rng driver: posts writable buffers, kicks, reads the used ring. */
class VirtioRngTest {

    private final GuestMemory memory = TestMemory.allocate(1 << 20);
    private final DriverQueue driver = new DriverQueue(memory, 0x1000, 16);
    private final AtomicInteger usedInterrupts = new AtomicInteger();
    private final AtomicInteger resets = new AtomicInteger();

    @AfterEach
    void closeMemory() {
        memory.close();
    }

    private VirtioRng activated(VirtioRng rng) throws Exception {
        Virtqueue queue = driver.deviceQueue(VirtioRng.QUEUE_SIZE);
        queue.activate(memory, false, true);
        return activated(rng, queue);
    }

    private VirtioRng activated(VirtioRng rng, Virtqueue queue) throws Exception {
        VirtioInterrupts interrupts = new VirtioInterrupts() {
            @Override
            public void usedBuffers(int q) {
                assertEquals(0, q);
                usedInterrupts.incrementAndGet();
            }

            @Override
            public void configChanged() {
            }
        };
        rng.activate(new DeviceContext(memory, rng.deviceFeatures(), List.of(queue), interrupts, resets::incrementAndGet));
        return rng;
    }

    @Test
    void fillsExactlyTheWritableLengthWithVaryingBytes() throws Exception {
        VirtioRng rng = activated(new VirtioRng());
        long first = driver.allocate(100);
        long second = driver.allocate(60);
        memory.fill(first + 100, 12, (byte) 0x5A); // up to the next 16-byte-aligned buffer
        int head = driver.addChain(List.of(Buffer.writable(first, 100), Buffer.writable(second, 60)));
        rng.queueNotify(0);

        assertEquals(new DriverQueue.Used(head, 160), driver.nextUsed());
        assertEquals(1, usedInterrupts.get());
        byte[] bytes = new byte[160];
        memory.read(first, bytes, 0, 100);
        memory.read(second, bytes, 100, 60);
        assertTrue(distinctValues(bytes) > 32, "160 random bytes take many values: " + Arrays.toString(bytes));
        byte[] guard = new byte[12];
        Arrays.fill(guard, (byte) 0x5A);
        assertArrayEquals(guard, memory.read(first + 100, 12), "nothing written past the buffer");
    }

    @Test
    void requestMadeBeforeDriverOkIsServedAtActivation() throws Exception {
        // The transport drops kicks before DRIVER_OK, and here leaves the ring for the device to map.
        Virtqueue queue = driver.deviceQueue(VirtioRng.QUEUE_SIZE);
        long buffer = driver.allocate(32);
        int head = driver.addChain(List.of(Buffer.writable(buffer, 32)));
        activated(new VirtioRng(), queue);
        assertEquals(new DriverQueue.Used(head, 32), driver.nextUsed());
    }

    @Test
    void successiveRequestsGetDifferentBytes() throws Exception {
        VirtioRng rng = activated(new VirtioRng());
        long a = driver.allocate(64);
        long b = driver.allocate(64);
        driver.addChain(List.of(Buffer.writable(a, 64)));
        driver.addChain(List.of(Buffer.writable(b, 64)));
        rng.queueNotify(0);
        assertNotNull(driver.nextUsed());
        assertNotNull(driver.nextUsed());
        assertFalse(Arrays.equals(memory.read(a, 64), memory.read(b, 64)), "entropy is never handed out twice");
    }

    @Test
    void hugeRequestIsCappedAndTheRestLeftAlone() throws Exception {
        VirtioRng rng = activated(new VirtioRng());
        int length = VirtioRng.MAX_REQUEST_BYTES + 8192;
        long buffer = driver.allocate(length);
        int head = driver.addChain(List.of(Buffer.writable(buffer, length)));
        rng.queueNotify(0);
        assertEquals(new DriverQueue.Used(head, VirtioRng.MAX_REQUEST_BYTES), driver.nextUsed());
        assertArrayEquals(new byte[8192], memory.read(buffer + VirtioRng.MAX_REQUEST_BYTES, 8192));
    }

    @Test
    void readableBuffersAreIgnoredNotFatal() throws Exception {
        VirtioRng rng = activated(new VirtioRng());
        byte[] request = {1, 2, 3, 4};
        long readable = driver.allocate(request);
        int onlyReadable = driver.addChain(List.of(Buffer.readable(readable, 4)));
        long out = driver.allocate(32);
        int mixed = driver.addChain(List.of(Buffer.readable(readable, 4), Buffer.writable(out, 32)));
        rng.queueNotify(0);

        assertEquals(new DriverQueue.Used(onlyReadable, 0), driver.nextUsed(), "nothing to fill: returned empty");
        assertEquals(new DriverQueue.Used(mixed, 32), driver.nextUsed(), "only the writable part is filled");
        assertArrayEquals(request, memory.read(readable, 4), "the driver's readable buffer is not written");
        assertEquals(0, resets.get());
    }

    @Test
    void brokenRingNeedsResetAndLaterKicksAreIgnored() throws Exception {
        VirtioRng rng = activated(new VirtioRng());
        driver.setAvailableIndex(40); // more heads than the 16-entry queue holds
        rng.queueNotify(0);
        assertEquals(1, resets.get());
        rng.queueNotify(0);
        assertEquals(1, resets.get(), "a broken device waits for the driver's reset");
        assertNull(driver.nextUsed());
    }

    @Test
    void rateLimitHoldsRequestsUntilTheNextPeriod() throws Exception {
        VirtioRng rng = activated(new VirtioRng(new SecureRandom(), 100, Duration.ofMillis(300)));
        long a = driver.allocate(64);
        long b = driver.allocate(64);
        long c = driver.allocate(64);
        int first = driver.addChain(List.of(Buffer.writable(a, 64)));
        int second = driver.addChain(List.of(Buffer.writable(b, 64)));
        int third = driver.addChain(List.of(Buffer.writable(c, 64)));
        long start = System.nanoTime();
        rng.queueNotify(0);

        assertEquals(new DriverQueue.Used(first, 64), driver.nextUsed());
        assertEquals(new DriverQueue.Used(second, 36), driver.nextUsed(), "the rest of the period's 100 bytes");
        assertNull(driver.nextUsed(), "quota spent: the third request waits");

        DriverQueue.Used used;
        while ((used = driver.nextUsed()) == null) {
            assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos(), "request never served");
            Thread.sleep(10);
        }
        assertTrue(System.nanoTime() - start >= Duration.ofMillis(290).toNanos(), "served only after the period");
        assertEquals(new DriverQueue.Used(third, 64), used);
        assertEquals(2, usedInterrupts.get(), "one interrupt per batch");
    }

    private static int distinctValues(byte[] bytes) {
        boolean[] seen = new boolean[256];
        int count = 0;
        for (byte b : bytes) {
            if (!seen[b & 0xFF]) {
                seen[b & 0xFF] = true;
                count++;
            }
        }
        return count;
    }
}
