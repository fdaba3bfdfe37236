package dev.jvirt.virtio.net;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.net.FrameBackend;
import dev.jvirt.net.MacAddress;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.DriverQueue.Buffer;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static dev.jvirt.virtio.VirtioFeatures.bit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** virtio-net driven the way a guest driver drives it, with an in-memory backend behind it. */
class VirtioNetTest {

    private static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");
    private static final long BASE = bit(VirtioFeatures.VERSION_1) | bit(VirtioNetFeatures.MAC) | bit(VirtioNetFeatures.STATUS);
    private static final int QUEUE_SIZE = 16;

    private GuestMemory memory;
    private FakeBackend backend;
    private VirtioNet net;
    private DriverQueue rx;
    private DriverQueue tx;
    private final AtomicIntegerArray usedInterrupts = new AtomicIntegerArray(2);
    private final AtomicInteger configInterrupts = new AtomicInteger();
    private final AtomicInteger resets = new AtomicInteger();
    private final Random random = new Random(7);

    private final VirtioInterrupts interrupts = new VirtioInterrupts() {
        @Override
        public void usedBuffers(int queue) {
            usedInterrupts.incrementAndGet(queue);
        }

        @Override
        public void configChanged() {
            configInterrupts.incrementAndGet();
        }
    };

    @BeforeEach
    void setUp() {
        memory = TestMemory.allocate(4 << 20);
        backend = new FakeBackend();
        net = new VirtioNet(backend, VirtioNetOptions.of(MAC).withQueueSize(QUEUE_SIZE));
    }

    @AfterEach
    void tearDown() {
        net.reset();
        memory.close();
    }

    private void activate(long features) throws VirtioException {
        rx = new DriverQueue(memory, 0x10000, QUEUE_SIZE);
        tx = new DriverQueue(memory, 0x200000, QUEUE_SIZE);
        net.activate(new DeviceContext(memory, features, List.of(rx.deviceQueue(QUEUE_SIZE), tx.deviceQueue(QUEUE_SIZE)),
                interrupts, resets::incrementAndGet));
    }

    // --- features and configuration ---

    @Test
    void offersOffloadsTheBackendHasAndAReadOnlyConfig() {
        long offered = net.deviceFeatures();
        assertEquals(1, net.deviceType());
        assertEquals(2, net.queueCount());
        assertEquals(QUEUE_SIZE, net.queueMaxSize(VirtioNet.RX_QUEUE));
        for (int feature : new int[] {VirtioFeatures.VERSION_1, VirtioFeatures.RING_EVENT_IDX, VirtioFeatures.RING_INDIRECT_DESC,
                VirtioNetFeatures.MAC, VirtioNetFeatures.STATUS, VirtioNetFeatures.MRG_RXBUF, VirtioNetFeatures.CSUM,
                VirtioNetFeatures.GUEST_CSUM, VirtioNetFeatures.HOST_TSO4, VirtioNetFeatures.HOST_TSO6, VirtioNetFeatures.GUEST_TSO4,
                VirtioNetFeatures.GUEST_TSO6, VirtioNetFeatures.HOST_ECN, VirtioNetFeatures.GUEST_ECN}) {
            assertTrue((offered & bit(feature)) != 0, "feature " + feature);
        }
        for (int feature : new int[] {VirtioNetFeatures.HOST_UFO, VirtioNetFeatures.GUEST_UFO, VirtioNetFeatures.MTU,
                VirtioNetFeatures.CTRL_VQ, VirtioNetFeatures.MQ}) {
            assertEquals(0, offered & bit(feature), "feature " + feature + " must not be offered");
        }

        long plain = new VirtioNet(new FakeBackend(0, 1500), MAC).deviceFeatures();
        long switchedOff = new VirtioNet(backend, VirtioNetOptions.of(MAC).withOffloads(false)).deviceFeatures();
        long offloadBits = bit(VirtioNetFeatures.CSUM) | bit(VirtioNetFeatures.GUEST_CSUM) | bit(VirtioNetFeatures.HOST_TSO4)
                | bit(VirtioNetFeatures.GUEST_TSO4);
        assertEquals(0, plain & offloadBits);
        assertEquals(0, switchedOff & offloadBits);
        long withUfo = new VirtioNet(new FakeBackend(FrameBackend.OFFLOAD_CSUM | FrameBackend.OFFLOAD_UFO, 1500), MAC).deviceFeatures();
        assertEquals(bit(VirtioNetFeatures.HOST_UFO) | bit(VirtioNetFeatures.GUEST_UFO),
                withUfo & (bit(VirtioNetFeatures.HOST_UFO) | bit(VirtioNetFeatures.GUEST_UFO)));

        assertEquals(0x12005452, net.readConfig(0, 4), "mac[0..3], little-endian");
        assertEquals(0x5634, net.readConfig(4, 2));
        assertEquals(VirtioNetFeatures.S_LINK_UP, net.readConfig(6, 2));
        assertEquals(1, net.readConfig(8, 2), "max_virtqueue_pairs");
        net.writeConfig(0, 4, 0);
        assertEquals(0x12005452, net.readConfig(0, 4), "the MAC is read-only");
        assertEquals(0, net.readConfig(11, 4), "a read past the end reads nothing");

        VirtioNet jumbo = new VirtioNet(backend, VirtioNetOptions.of(MAC).withMtu(9000));
        assertTrue((jumbo.deviceFeatures() & bit(VirtioNetFeatures.MTU)) != 0);
        assertEquals(9000, jumbo.readConfig(10, 2));
    }

    @Test
    void refusesLegacyDriversAndUnofferedFeatures() {
        VirtioException legacy = assertThrows(VirtioException.class, () -> activate(bit(VirtioNetFeatures.MAC)));
        assertTrue(legacy.getMessage().contains("VERSION_1"), legacy.getMessage());
        VirtioException ctrl = assertThrows(VirtioException.class, () -> activate(BASE | bit(VirtioNetFeatures.CTRL_VQ)));
        assertTrue(ctrl.getMessage().contains("not offered"), ctrl.getMessage());
    }

    // --- transmit ---

    @Test
    void transmitChainReachesTheBackendWithItsHeaderAndFrame() throws Exception {
        activate(BASE | bit(VirtioNetFeatures.CSUM) | bit(VirtioNetFeatures.HOST_TSO4));
        byte[] header = header(VirtioNetHeader.F_NEEDS_CSUM, VirtioNetHeader.GSO_TCPV4, 54, 1448, 34, 16, 0x7777);
        byte[] frame = frame(3000);
        byte[] packet = concat(header, frame);
        // Header split over two buffers, the second shared with the frame's start.
        long first = tx.allocate(Arrays.copyOfRange(packet, 0, 8));
        long second = tx.allocate(Arrays.copyOfRange(packet, 8, 50));
        long third = tx.allocate(Arrays.copyOfRange(packet, 50, packet.length));
        int head = tx.addChain(List.of(Buffer.readable(first, 8), Buffer.readable(second, 42),
                Buffer.readable(third, packet.length - 50)));
        net.queueNotify(VirtioNet.TX_QUEUE);

        byte[] sent = backend.awaitSent(1).get(0);
        byte[] expectedHeader = header.clone();
        expectedHeader[VirtioNetHeader.NUM_BUFFERS] = 0;
        expectedHeader[VirtioNetHeader.NUM_BUFFERS + 1] = 0;
        assertArrayEquals(concat(expectedHeader, frame), sent);
        awaitUsed(tx, 1);
        assertEquals(new DriverQueue.Used(head, 0), tx.nextUsed());
        awaitInterrupt(VirtioNet.TX_QUEUE);
        assertEquals(1, net.counters().txFrames());
        assertEquals(frame.length, net.counters().txBytes());
    }

    @Test
    void transmitAskingForOffloadsNotNegotiatedIsDroppedAndTheQueueGoesOn() throws Exception {
        activate(BASE | bit(VirtioNetFeatures.CSUM));
        int gso = addTransmit(header(VirtioNetHeader.F_NEEDS_CSUM, VirtioNetHeader.GSO_TCPV4, 54, 1448, 34, 16, 0), frame(200));
        int ecn = addTransmit(header(0, VirtioNetHeader.GSO_ECN, 0, 0, 0, 0, 0), frame(200));
        int unknownFlag = addTransmit(header(VirtioNetHeader.F_DATA_VALID, 0, 0, 0, 0, 0, 0), frame(200));
        byte[] good = frame(100);
        int fine = addTransmit(header(VirtioNetHeader.F_NEEDS_CSUM, 0, 0, 0, 34, 6, 0), good);
        net.queueNotify(VirtioNet.TX_QUEUE);

        awaitUsed(tx, 4);
        for (int head : new int[] {gso, ecn, unknownFlag, fine}) {
            assertEquals(new DriverQueue.Used(head, 0), tx.nextUsed());
        }
        List<byte[]> sent = backend.awaitSent(1);
        assertEquals(1, sent.size());
        assertArrayEquals(good, Arrays.copyOfRange(sent.get(0), 12, sent.get(0).length));
        assertEquals(3, net.counters().txDropped());
        assertEquals(0, resets.get());
    }

    @Test
    void transmitHeaderShorterThanTwelveBytesNeedsReset() throws Exception {
        activate(BASE);
        long shortHeader = tx.allocate(new byte[8]);
        tx.addChain(List.of(Buffer.readable(shortHeader, 8)));
        net.queueNotify(VirtioNet.TX_QUEUE);
        awaitResets(1);
        assertTrue(backend.sent().isEmpty());
        assertEquals(0, tx.usedIndex(), "a broken chain is not returned");
    }

    @Test
    void writableBufferInATransmitChainNeedsReset() throws Exception {
        activate(BASE);
        long packet = tx.allocate(concat(header(0, 0, 0, 0, 0, 0, 0), frame(60)));
        long reply = tx.allocate(64);
        tx.addChain(List.of(Buffer.readable(packet, 72), Buffer.writable(reply, 64)));
        net.queueNotify(VirtioNet.TX_QUEUE);
        awaitResets(1);
        assertTrue(backend.sent().isEmpty());
    }

    // --- receive ---

    @Test
    void receivedFrameLandsInPostedBuffersWithHeaderAndLength() throws Exception {
        activate(BASE);
        assertEquals(0, backend.offloadsInForce(), "a driver without GUEST_CSUM takes no offloaded frames");
        long headerBuffer = rx.allocate(12);
        long frameBuffer = rx.allocate(2048);
        int head = rx.addChain(List.of(Buffer.writable(headerBuffer, 12), Buffer.writable(frameBuffer, 2048)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        byte[] frame = frame(1000);
        backend.inject(concat(header(VirtioNetHeader.F_DATA_VALID, 0, 0, 0, 0, 0, 0), frame));

        awaitUsed(rx, 1);
        assertEquals(new DriverQueue.Used(head, 12 + frame.length), rx.nextUsed());
        byte[] header = memory.read(headerBuffer, 12);
        assertEquals(0, header[VirtioNetHeader.FLAGS], "DATA_VALID only for a driver with GUEST_CSUM");
        assertEquals(1, u16(header, VirtioNetHeader.NUM_BUFFERS), "num_buffers is 1 without MRG_RXBUF");
        assertArrayEquals(frame, memory.read(frameBuffer, frame.length));
        awaitInterrupt(VirtioNet.RX_QUEUE);
        assertEquals(1, net.counters().rxFrames());
    }

    @Test
    void receiveOffloadsFollowWhatTheDriverAccepts() throws Exception {
        activate(BASE | bit(VirtioNetFeatures.GUEST_CSUM) | bit(VirtioNetFeatures.GUEST_TSO4) | bit(VirtioNetFeatures.MRG_RXBUF)
                | bit(VirtioFeatures.RING_EVENT_IDX));
        assertEquals(FrameBackend.OFFLOAD_CSUM | FrameBackend.OFFLOAD_TSO4, backend.offloadsInForce());
        // With GSO the largest frame is 64 KiB: post a ring's worth of 4 KiB buffers.
        long[] buffers = new long[QUEUE_SIZE];
        for (int i = 0; i < QUEUE_SIZE; i++) {
            buffers[i] = rx.allocate(4096);
            rx.addChain(List.of(Buffer.writable(buffers[i], 4096)));
        }
        net.queueNotify(VirtioNet.RX_QUEUE);
        byte[] header = header(VirtioNetHeader.F_NEEDS_CSUM | VirtioNetHeader.F_DATA_VALID, VirtioNetHeader.GSO_TCPV4, 66, 1448, 34, 16, 0);
        byte[] frame = frame(9000);
        backend.inject(concat(header, frame));

        awaitUsed(rx, 3);
        byte[] seen = memory.read(buffers[0], 12);
        assertArrayEquals(Arrays.copyOf(header, 10), Arrays.copyOf(seen, 10), "the backend's header reaches the driver as is");
        assertEquals(3, u16(seen, VirtioNetHeader.NUM_BUFFERS));
        assertEquals(4096, rx.nextUsed().length());
        assertEquals(4096, rx.nextUsed().length());
        assertEquals(12 + 9000 - 8192, rx.nextUsed().length());
    }

    @Test
    void mergeableFrameSpansTwoBuffersWithNumBuffersTwo() throws Exception {
        activate(BASE | bit(VirtioNetFeatures.MRG_RXBUF) | bit(VirtioFeatures.RING_INDIRECT_DESC));
        long first = rx.allocate(1024);
        long second = rx.allocate(1024);
        int firstHead = rx.addChain(List.of(Buffer.writable(first, 1024)));
        int secondHead = rx.addIndirectChain(List.of(Buffer.writable(second, 512), Buffer.writable(second + 512, 512)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        byte[] frame = frame(1500);
        backend.inject(concat(header(0, 0, 0, 0, 0, 0, 0), frame));

        awaitUsed(rx, 2);
        assertEquals(new DriverQueue.Used(firstHead, 1024), rx.nextUsed());
        assertEquals(new DriverQueue.Used(secondHead, 12 + 1500 - 1024), rx.nextUsed());
        byte[] seen = concat(memory.read(first, 1024), memory.read(second, 12 + 1500 - 1024));
        assertEquals(2, u16(seen, VirtioNetHeader.NUM_BUFFERS));
        assertArrayEquals(frame, Arrays.copyOfRange(seen, 12, seen.length));
    }

    @Test
    void withoutBuffersAFrameWaitsInTheBackendUntilTheDriverKicks() throws Exception {
        activate(BASE);
        byte[] frame = frame(300);
        backend.inject(concat(header(0, 0, 0, 0, 0, 0, 0), frame));
        Thread.sleep(300);
        assertEquals(1, backend.waiting(), "not read, so not lost");
        assertEquals(0, backend.receiveCalls(), "no reads without somewhere to put the frame");
        assertEquals(0, backend.awaitCalls(), "no polling either: the device sleeps until a kick");
        Thread.sleep(200);
        assertEquals(0, backend.receiveCalls() + backend.awaitCalls(), "still asleep");

        long buffer = rx.allocate(1600);
        int head = rx.addChain(List.of(Buffer.writable(buffer, 1600)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        awaitUsed(rx, 1);
        assertEquals(new DriverQueue.Used(head, 312), rx.nextUsed());
        assertArrayEquals(frame, memory.read(buffer + 12, frame.length));
        assertEquals(0, backend.waiting());
    }

    @Test
    void withBuffersButNoFramesTheDeviceWaitsOnTheBackend() throws Exception {
        activate(BASE | bit(VirtioNetFeatures.MRG_RXBUF));
        for (int i = 0; i < 4; i++) {
            rx.addChain(List.of(Buffer.writable(rx.allocate(1024), 1024)));
        }
        net.queueNotify(VirtioNet.RX_QUEUE);
        Thread.sleep(300);
        assertTrue(backend.receiveCalls() <= 2, "reads: " + backend.receiveCalls());
        assertTrue(backend.awaitCalls() <= 2, "waits: " + backend.awaitCalls());
        byte[] frame = frame(60);
        backend.inject(concat(header(0, 0, 0, 0, 0, 0, 0), frame));
        awaitUsed(rx, 1);
        assertEquals(72, rx.nextUsed().length());
    }

    @Test
    void mergeableReceiveWaitsForRoomForTheLargestFrame() throws Exception {
        activate(BASE | bit(VirtioNetFeatures.MRG_RXBUF));
        long first = rx.allocate(1024);
        rx.addChain(List.of(Buffer.writable(first, 1024)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        byte[] frame = frame(1500);
        backend.inject(concat(header(0, 0, 0, 0, 0, 0, 0), frame));
        Thread.sleep(300);
        assertEquals(0, backend.receiveCalls(), "1024 bytes cannot take a 1500-byte frame: nothing is read");
        assertEquals(0, rx.usedIndex());

        long second = rx.allocate(1024);
        rx.addChain(List.of(Buffer.writable(second, 1024)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        awaitUsed(rx, 2);
        byte[] seen = concat(memory.read(first, 1024), memory.read(second, 488));
        assertArrayEquals(frame, Arrays.copyOfRange(seen, 12, seen.length));
    }

    @Test
    void frameLargerThanTheBufferIsDroppedAndTheBufferServesTheNextOne() throws Exception {
        frameLargerThanTheBufferIsDropped(false);
    }

    @Test
    void frameCutToTheBuffersLengthIsDroppedToo() throws Exception {
        frameLargerThanTheBufferIsDropped(true);
    }

    private void frameLargerThanTheBufferIsDropped(boolean cutReportsBufferLength) throws Exception {
        backend.cutReportsBufferLength(cutReportsBufferLength);
        activate(BASE);
        long buffer = rx.allocate(12 + 1518);
        int head = rx.addChain(List.of(Buffer.writable(buffer, 12 + 1518)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        backend.inject(concat(header(0, 0, 0, 0, 0, 0, 0), frame(4000)));
        byte[] small = frame(100);
        backend.inject(concat(header(0, 0, 0, 0, 0, 0, 0), small));

        awaitUsed(rx, 1);
        assertEquals(new DriverQueue.Used(head, 112), rx.nextUsed());
        assertArrayEquals(small, memory.read(buffer + 12, small.length));
        assertEquals(1, net.counters().rxDropped());
    }

    @Test
    void receiveChainWithReadableBuffersNeedsReset() throws Exception {
        activate(BASE);
        long in = rx.allocate(16);
        long out = rx.allocate(1600);
        rx.addChain(List.of(Buffer.readable(in, 16), Buffer.writable(out, 1600)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        awaitResets(1);
    }

    // --- link state and lifecycle ---

    @Test
    void linkDownIsAnnouncedAndStopsTrafficUntilItComesBack() throws Exception {
        activate(BASE);
        net.setLinkUp(false);
        assertEquals(1, configInterrupts.get());
        assertEquals(0, net.readConfig(6, 2));

        long buffer = rx.allocate(1600);
        rx.addChain(List.of(Buffer.writable(buffer, 1600)));
        net.queueNotify(VirtioNet.RX_QUEUE);
        backend.inject(concat(header(0, 0, 0, 0, 0, 0, 0), frame(100)));
        addTransmit(header(0, 0, 0, 0, 0, 0, 0), frame(100));
        net.queueNotify(VirtioNet.TX_QUEUE);
        awaitUsed(tx, 1);
        Thread.sleep(200);
        assertTrue(backend.sent().isEmpty(), "nothing goes out on a link that is down");
        assertEquals(0, rx.usedIndex(), "nothing comes in either");
        assertEquals(1, backend.waiting());

        net.setLinkUp(true);
        assertEquals(2, configInterrupts.get());
        assertEquals(VirtioNetFeatures.S_LINK_UP, net.readConfig(6, 2));
        awaitUsed(rx, 1);
    }

    @Test
    void resetStopsTheQueueThreadsAndANewDriverStartsClean() throws Exception {
        activate(BASE);
        assertTrue(queueThreadsAlive() >= 2);
        net.reset();
        assertEquals(0, queueThreadsAlive());
        assertEquals(0, backend.offloadsInForce());

        activate(BASE | bit(VirtioFeatures.RING_EVENT_IDX));
        byte[] frame = frame(64);
        addTransmit(header(0, 0, 0, 0, 0, 0, 0), frame);
        net.queueNotify(VirtioNet.TX_QUEUE);
        assertArrayEquals(frame, Arrays.copyOfRange(backend.awaitSent(1).get(0), 12, 76));
        assertEquals(0, resets.get());
    }

    // --- helpers ---

    private static long queueThreadsAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(thread -> thread.getName().startsWith("virtio-net-") && thread.isAlive()).count();
    }

    private int addTransmit(byte[] header, byte[] frame) {
        byte[] packet = concat(header, frame);
        long address = tx.allocate(packet);
        return tx.addChain(List.of(Buffer.readable(address, packet.length)));
    }

    private byte[] frame(int length) {
        byte[] frame = new byte[length];
        random.nextBytes(frame);
        System.arraycopy(MAC.octets(), 0, frame, 0, 6);
        return frame;
    }

    private static byte[] header(int flags, int gsoType, int hdrLen, int gsoSize, int csumStart, int csumOffset, int numBuffers) {
        byte[] header = new byte[12];
        header[0] = (byte) flags;
        header[1] = (byte) gsoType;
        int[] fields = {hdrLen, gsoSize, csumStart, csumOffset, numBuffers};
        for (int i = 0; i < fields.length; i++) {
            header[2 + 2 * i] = (byte) fields[i];
            header[3 + 2 * i] = (byte) (fields[i] >>> 8);
        }
        return header;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] joined = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, joined, a.length, b.length);
        return joined;
    }

    private static int u16(byte[] bytes, int at) {
        return (bytes[at] & 0xFF) | (bytes[at + 1] & 0xFF) << 8;
    }

    private static void awaitUsed(DriverQueue queue, int count) throws InterruptedException {
        awaitTrue(() -> queue.usedIndex() >= count, "used index " + count);
    }

    private void awaitInterrupt(int queue) throws InterruptedException {
        awaitTrue(() -> usedInterrupts.get(queue) > 0, "an interrupt for queue " + queue);
    }

    private void awaitResets(int count) throws InterruptedException {
        awaitTrue(() -> resets.get() >= count, count + " needs-reset");
    }

    private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(2);
        }
    }
}
