package dev.jvirt.virtio.testing;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The test driver and the device queue agree on the ring layout: a request goes round trip. */
class DriverQueueTest {

    @Test
    void requestGoesThroughTheRingsAndComesBackUsed() throws Exception {
        try (GuestMemory memory = TestMemory.allocate(1 << 20)) {
            DriverQueue driver = new DriverQueue(memory, 0x1000, 8);
            Virtqueue queue = driver.deviceQueue(8);
            queue.activate(memory, false, true);

            byte[] request = "ping".getBytes(StandardCharsets.US_ASCII);
            long in = driver.allocate(request);
            long out = driver.allocate(16);
            int head = driver.addChain(List.of(DriverQueue.Buffer.readable(in, 4), DriverQueue.Buffer.writable(out, 16)));

            DescriptorChain chain = queue.pop();
            assertEquals(head, chain.head());
            assertArrayEquals(request, chain.read(0, 4));
            chain.write(0, "pong".getBytes(StandardCharsets.US_ASCII), 0, 4);
            queue.addUsed(chain.head(), 4);
            assertNull(queue.pop());

            assertEquals(new DriverQueue.Used(head, 4), driver.nextUsed());
            assertEquals("pong", new String(memory.read(out, 4), StandardCharsets.US_ASCII));
        }
    }
}
