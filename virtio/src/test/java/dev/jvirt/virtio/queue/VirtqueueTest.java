package dev.jvirt.virtio.queue;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.DriverQueue.Buffer;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static dev.jvirt.virtio.testing.DriverQueue.F_INDIRECT;
import static dev.jvirt.virtio.testing.DriverQueue.F_NEXT;
import static dev.jvirt.virtio.testing.DriverQueue.F_WRITE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The split virtqueue against rings a test driver builds by hand: what a well-behaved driver
 * gets, and that every malformed ring or chain a hostile one can write is a VirtioException
 * (never another exception, never an access outside RAM, never an endless walk) that consumes
 * nothing.
 */
class VirtqueueTest {

    private static final long RAM = 1 << 20;
    private static final int SIZE = 8;

    private final GuestMemory memory = TestMemory.allocate(RAM);
    private final DriverQueue driver = new DriverQueue(memory, 0x1000, SIZE);

    @AfterEach
    void closeMemory() {
        memory.close();
    }

    private Virtqueue active(boolean eventIndex, boolean indirect) throws VirtioException {
        Virtqueue queue = driver.deviceQueue(SIZE);
        queue.activate(memory, eventIndex, indirect);
        return queue;
    }

    private static VirtioException rejected(Executable action) {
        return assertThrows(VirtioException.class, action);
    }

    /** Pop must fail, keep failing the same way (nothing consumed), and leave the queue where it was. */
    private static VirtioException popRejected(Virtqueue queue) {
        int before = queue.nextAvailable();
        VirtioException first = rejected(queue::pop);
        VirtioException again = rejected(queue::pop);
        assertEquals(first.getMessage(), again.getMessage());
        assertEquals(before, queue.nextAvailable(), "nothing consumed");
        return first;
    }

    private static void assertMentions(VirtioException e, String words) {
        assertTrue(e.getMessage().contains(words), () -> "'" + e.getMessage() + "' should mention '" + words + "'");
    }

    // ---- well-formed rings ----

    @Test
    void emptyRingPopsNothing() throws Exception {
        assertNull(active(false, false).pop());
    }

    @Test
    void chainOfReadableThenWritableBuffersRoundTrips() throws Exception {
        Virtqueue queue = active(false, false);
        long header = driver.allocate("head".getBytes(StandardCharsets.US_ASCII));
        long body = driver.allocate("body-bytes".getBytes(StandardCharsets.US_ASCII));
        long status = driver.allocate(1);
        long data = driver.allocate(32);
        int head = driver.addChain(List.of(Buffer.readable(header, 4), Buffer.readable(body, 10),
                Buffer.writable(data, 32), Buffer.writable(status, 1)));

        DescriptorChain chain = queue.pop();
        assertNotNull(chain);
        assertEquals(head, chain.head());
        assertEquals(2, chain.readable().size());
        assertEquals(2, chain.writable().size());
        assertEquals(14, chain.readableLength());
        assertEquals(33, chain.writableLength());
        assertEquals("headbody-bytes", new String(chain.read(0, 14), StandardCharsets.US_ASCII), "read across descriptors");
        byte[] reply = new byte[33];
        reply[32] = 7;
        chain.write(0, reply, 0, 33);
        queue.addUsed(chain.head(), 33);

        assertEquals(new DriverQueue.Used(head, 33), driver.nextUsed());
        assertEquals(7, memory.readU8(status), "last byte landed in the second writable buffer");
        assertNull(queue.pop());
        assertThrows(IndexOutOfBoundsException.class, () -> chain.read(10, 5), "reads never leave the chain");
    }

    @Test
    void chainsComeOutInOrderAcrossIndexWrap() throws Exception {
        DriverQueue small = new DriverQueue(memory, 0x8000, 2);
        Virtqueue queue = small.deviceQueue(2);
        queue.activate(memory, false, false);
        long buffer = small.allocate(8);
        for (int i = 0; i < 0x10000 + 5; i++) {
            int head = small.addChain(List.of(Buffer.readable(buffer, 8)));
            DescriptorChain chain = queue.pop();
            assertEquals(head, chain.head());
            queue.addUsed(head, 0);
            assertEquals(head, small.nextUsed().head());
        }
        assertEquals(5, queue.nextAvailable(), "the 16-bit index wrapped");
        assertEquals(5, small.usedIndex());
    }

    @Test
    void undoPopHandsTheSameChainOutAgain() throws Exception {
        Virtqueue queue = active(false, false);
        int head = driver.addChain(List.of(Buffer.readable(driver.allocate(4), 4)));
        assertEquals(head, queue.pop().head());
        queue.undoPop();
        assertEquals(head, queue.pop().head());
        assertNull(queue.pop());
    }

    @Test
    void indirectTableIsWalkedWhenNegotiated() throws Exception {
        Virtqueue queue = active(false, true);
        long in = driver.allocate(new byte[]{1, 2, 3});
        long out = driver.allocate(5);
        int head = driver.addIndirectChain(List.of(Buffer.readable(in, 3), Buffer.writable(out, 5)));
        DescriptorChain chain = queue.pop();
        assertEquals(head, chain.head());
        assertArrayEquals(new byte[]{1, 2, 3}, chain.read(0, 3));
        assertEquals(5, chain.writableLength());
        assertEquals(out, chain.writable().getFirst().address());
    }

    @Test
    void withoutEventIndexTheNoInterruptFlagDecides() throws Exception {
        Virtqueue queue = active(false, false);
        long buffer = driver.allocate(4);
        driver.addChain(List.of(Buffer.readable(buffer, 4)));
        queue.addUsed(queue.pop().head(), 0);
        assertTrue(queue.needsInterrupt());
        driver.setNoInterrupt(true);
        driver.addChain(List.of(Buffer.readable(buffer, 4)));
        queue.addUsed(queue.pop().head(), 0);
        assertFalse(queue.needsInterrupt());

        queue.disableNotification();
        assertEquals(1, driver.usedFlags(), "VRING_USED_F_NO_NOTIFY");
        assertFalse(queue.enableNotification());
        assertEquals(0, driver.usedFlags());
        driver.addChain(List.of(Buffer.readable(buffer, 4)));
        queue.disableNotification();
        assertTrue(queue.enableNotification(), "a chain arrived while kicks were off: keep popping");
    }

    @Test
    void eventIndexInterruptsOnlyWhenUsedIndexPassesUsedEvent() throws Exception {
        Virtqueue queue = active(true, false);
        long buffer = driver.allocate(4);
        driver.setNoInterrupt(true); // ignored with EVENT_IDX
        driver.setUsedEvent(0);
        driver.addChain(List.of(Buffer.readable(buffer, 4)));
        queue.addUsed(queue.pop().head(), 0);
        assertTrue(queue.needsInterrupt(), "used 0 -> 1 passes used_event 0");
        assertEquals(1, driver.availableEvent(), "avail_event tells the driver where the device is");

        driver.addChain(List.of(Buffer.readable(buffer, 4)));
        queue.addUsed(queue.pop().head(), 0);
        assertFalse(queue.needsInterrupt(), "used 1 -> 2 does not pass used_event 0 again");

        driver.setUsedEvent(3);
        for (int i = 0; i < 2; i++) {
            driver.addChain(List.of(Buffer.readable(buffer, 4)));
            queue.addUsed(queue.pop().head(), 0);
        }
        assertTrue(queue.needsInterrupt(), "used 2 -> 4 passes used_event 3");
        assertEquals(4, driver.availableEvent());

        queue.disableNotification();
        assertEquals(0, driver.usedFlags(), "EVENT_IDX does not use the NO_NOTIFY flag");
    }

    // ---- hostile rings: activation ----

    @Test
    void activationRefusesQueueNotEnabledOrBadSize() {
        Virtqueue queue = new Virtqueue(SIZE);
        driver.configure(queue);
        queue.setReady(false);
        rejected(() -> queue.activate(memory, false, false));
        queue.setReady(true);
        queue.setSize(0);
        rejected(() -> queue.activate(memory, false, false));
        queue.setSize(SIZE * 2);
        rejected(() -> queue.activate(memory, false, false));
        queue.setSize(0xFFFF);
        rejected(() -> queue.activate(memory, false, false));
        assertFalse(queue.isActive());
    }

    @Test
    void activationRefusesMisalignedRings() {
        Virtqueue queue = driver.deviceQueue(SIZE);
        queue.setDescriptorTableAddress(driver.descriptorTable() + 8);
        assertMentions(rejected(() -> queue.activate(memory, false, false)), "aligned");
        driver.configure(queue);
        queue.setAvailableRingAddress(driver.availableRing() + 1);
        assertMentions(rejected(() -> queue.activate(memory, false, false)), "aligned");
        driver.configure(queue);
        queue.setUsedRingAddress(driver.usedRing() + 2);
        assertMentions(rejected(() -> queue.activate(memory, false, false)), "aligned");
    }

    @Test
    void activationRefusesRingsOutsideRam() {
        long[] outside = {RAM, RAM - 16, 0xC000_0000L, 1L << 40, -16, Long.MAX_VALUE & ~0xFL, 0xFFFF_FFFF_FFFF_FFF0L};
        for (long address : outside) {
            Virtqueue queue = driver.deviceQueue(SIZE);
            queue.setDescriptorTableAddress(address);
            assertMentions(rejected(() -> queue.activate(memory, false, false)), "outside guest RAM");
            driver.configure(queue);
            queue.setAvailableRingAddress(address);
            rejected(() -> queue.activate(memory, false, false));
            driver.configure(queue);
            queue.setUsedRingAddress(address);
            rejected(() -> queue.activate(memory, false, false));
            assertFalse(queue.isActive());
        }
    }

    // ---- hostile rings: available ring and chains ----

    @Test
    void availableIndexMoreThanAQueueAheadIsRejected() throws Exception {
        Virtqueue queue = active(false, false);
        driver.setAvailableIndex(SIZE + 1);
        assertMentions(popRejected(queue), "ahead");
        driver.setAvailableIndex(0xFFFF); // "behind" is just as impossible: it is 65535 ahead
        popRejected(queue);
        driver.setAvailableIndex(SIZE); // a full ring is fine
        for (int i = 0; i < SIZE; i++) {
            driver.writeDescriptor(i, driver.allocate(4), 4, 0, 0);
            memory.writeU16(driver.availableRing() + 4 + 2L * i, i);
        }
        for (int i = 0; i < SIZE; i++) {
            assertEquals(i, queue.pop().head());
        }
    }

    @Test
    void headOutsideTheTableIsRejected() throws Exception {
        Virtqueue queue = active(false, false);
        driver.publish(SIZE);
        assertMentions(popRejected(queue), "head descriptor " + SIZE);
        DriverQueue second = new DriverQueue(memory, 0x20000, SIZE);
        Virtqueue other = second.deviceQueue(SIZE);
        other.activate(memory, false, false);
        second.publish(0xFFFF);
        popRejected(other);
    }

    @Test
    void nextOutsideTheTableIsRejected() throws Exception {
        Virtqueue queue = active(false, false);
        driver.writeDescriptor(0, driver.allocate(4), 4, F_NEXT, SIZE);
        driver.publish(0);
        assertMentions(popRejected(queue), "next descriptor " + SIZE);
    }

    @Test
    void descriptorLoopsTerminate() throws Exception {
        Virtqueue queue = active(false, false);
        long buffer = driver.allocate(4);
        driver.writeDescriptor(0, buffer, 4, F_NEXT, 1);
        driver.writeDescriptor(1, buffer, 4, F_NEXT, 0);
        driver.publish(0);
        assertMentions(popRejected(queue), "loop");

        Virtqueue self = new Virtqueue(SIZE);
        DriverQueue selfDriver = new DriverQueue(memory, 0x20000, SIZE);
        selfDriver.configure(self);
        self.activate(memory, false, false);
        selfDriver.writeDescriptor(3, buffer, 4, F_NEXT, 3);
        selfDriver.publish(3);
        popRejected(self);
    }

    @Test
    void aChainUsingEveryDescriptorOnceIsNotALoop() throws Exception {
        Virtqueue queue = active(false, false);
        long buffer = driver.allocate(4);
        for (int i = 0; i < SIZE; i++) {
            boolean last = i == SIZE - 1;
            driver.writeDescriptor(i, buffer, 4, last ? 0 : F_NEXT, last ? 0 : i + 1);
        }
        driver.publish(0);
        assertEquals(SIZE, queue.pop().readable().size());
    }

    @Test
    void zeroLengthBufferIsRejected() throws Exception {
        Virtqueue queue = active(false, false);
        driver.writeDescriptor(0, driver.allocate(4), 0, 0, 0);
        driver.publish(0);
        assertMentions(popRejected(queue), "zero-length");
    }

    @Test
    void buffersReachingOutsideRamAreRejected() throws Exception {
        long[][] cases = {
                {RAM - 16, 32},                // runs off the end of RAM
                {RAM, 1},                      // starts at the end
                {0xC000_0000L, 16},            // the MMIO hole
                {0xFFFF_FFFF_FFFF_FFF0L, 32},  // wraps around 2^64
                {0x1000, 0x8000_0000L},        // 2 GiB: more than a buffer may be
                {0x1000, 0xFFFF_FFFFL},        // 4 GiB - 1
        };
        for (long[] c : cases) {
            DriverQueue ring = new DriverQueue(memory, 0x20000, SIZE);
            Virtqueue queue = ring.deviceQueue(SIZE);
            queue.activate(memory, false, false);
            ring.writeDescriptor(0, c[0], (int) c[1], 0, 0);
            ring.publish(0);
            assertMentions(popRejected(queue), "outside guest RAM");
        }
    }

    @Test
    void readableAfterWritableIsRejected() throws Exception {
        Virtqueue queue = active(false, false);
        long buffer = driver.allocate(8);
        driver.addChain(List.of(Buffer.writable(buffer, 4), Buffer.readable(buffer + 4, 4)));
        assertMentions(popRejected(queue), "after a device-writable");
    }

    // ---- hostile indirect descriptors ----

    @Test
    void indirectWithoutTheFeatureIsRejected() throws Exception {
        Virtqueue queue = active(false, false);
        driver.addIndirectChain(List.of(Buffer.readable(driver.allocate(4), 4)));
        assertMentions(popRejected(queue), "INDIRECT_DESC");
    }

    @Test
    void nestedIndirectIsRejected() throws Exception {
        Virtqueue queue = active(false, true);
        long inner = driver.allocate(16);
        driver.writeDescriptorAt(inner, 0, driver.allocate(4), 4, 0, 0);
        long outer = driver.allocate(16);
        driver.writeDescriptorAt(outer, 0, inner, 16, F_INDIRECT, 0);
        driver.writeDescriptor(0, outer, 16, F_INDIRECT, 0);
        driver.publish(0);
        assertMentions(popRejected(queue), "inside an indirect table");
    }

    @Test
    void indirectWithNextOrAfterAnotherDescriptorIsRejected() throws Exception {
        Virtqueue queue = active(false, true);
        long table = driver.allocate(16);
        driver.writeDescriptorAt(table, 0, driver.allocate(4), 4, 0, 0);
        driver.writeDescriptor(0, table, 16, F_INDIRECT | F_NEXT, 1);
        driver.writeDescriptor(1, driver.allocate(4), 4, 0, 0);
        driver.publish(0);
        assertMentions(popRejected(queue), "only one");

        DriverQueue ring = new DriverQueue(memory, 0x20000, SIZE);
        Virtqueue second = ring.deviceQueue(SIZE);
        second.activate(memory, false, true);
        ring.writeDescriptor(0, ring.allocate(4), 4, F_NEXT, 1);
        ring.writeDescriptor(1, table, 16, F_INDIRECT, 0);
        ring.publish(0);
        assertMentions(popRejected(second), "only one");
    }

    @Test
    void indirectTableOfBadLengthOrOutsideRamIsRejected() throws Exception {
        long table = driver.allocate(32);
        long[][] cases = {
                {table, 0}, {table, 15}, {table, 24}, {table, 16L * (Virtqueue.MAX_SIZE + 1)},
                {table, 0xFFFF_FFF0L}, {RAM - 16, 32}, {0xC000_0000L, 16},
        };
        for (long[] c : cases) {
            DriverQueue ring = new DriverQueue(memory, 0x20000, SIZE);
            Virtqueue queue = ring.deviceQueue(SIZE);
            queue.activate(memory, false, true);
            ring.writeDescriptor(0, c[0], (int) c[1], F_INDIRECT, 0);
            ring.publish(0);
            popRejected(queue);
        }
    }

    @Test
    void loopsAndBadNextInsideAnIndirectTableAreRejected() throws Exception {
        Virtqueue queue = active(false, true);
        long buffer = driver.allocate(4);
        long looping = driver.allocate(32);
        driver.writeDescriptorAt(looping, 0, buffer, 4, F_NEXT, 1);
        driver.writeDescriptorAt(looping, 1, buffer, 4, F_NEXT, 0);
        driver.writeDescriptor(0, looping, 32, F_INDIRECT, 0);
        driver.publish(0);
        assertMentions(popRejected(queue), "loop");

        DriverQueue ring = new DriverQueue(memory, 0x20000, SIZE);
        Virtqueue second = ring.deviceQueue(SIZE);
        second.activate(memory, false, true);
        long escaping = ring.allocate(32);
        ring.writeDescriptorAt(escaping, 0, buffer, 4, F_NEXT, 2); // the table has 2 entries
        ring.writeDescriptorAt(escaping, 1, buffer, 4, 0, 0);
        ring.writeDescriptor(0, escaping, 32, F_INDIRECT, 0);
        ring.publish(0);
        assertMentions(popRejected(second), "next descriptor 2");
    }

    @Test
    void readableAfterWritableInsideAnIndirectTableIsRejected() throws Exception {
        Virtqueue queue = active(false, true);
        long buffer = driver.allocate(8);
        driver.addIndirectChain(List.of(Buffer.writable(buffer, 4), Buffer.readable(buffer + 4, 4)));
        popRejected(queue);
    }

    @Test
    void queueRecoversAfterResetFromAHostileRing() throws Exception {
        Virtqueue queue = active(false, false);
        driver.writeDescriptor(0, RAM - 4, 64, F_WRITE, 0);
        driver.publish(0);
        popRejected(queue);
        queue.reset();
        assertFalse(queue.isActive());
        assertThrows(IllegalStateException.class, queue::pop, "a reset queue is not the device's to pop");

        DriverQueue fresh = new DriverQueue(memory, 0x20000, SIZE);
        fresh.configure(queue);
        queue.activate(memory, false, false);
        int head = fresh.addChain(List.of(Buffer.writable(fresh.allocate(4), 4)));
        assertEquals(head, queue.pop().head());
    }
}
