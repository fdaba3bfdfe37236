package dev.jvirt.virtio.balloon;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.queue.Virtqueue;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.DriverQueue.Buffer;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Plays Linux's virtio_balloon driver: inflates and deflates PFN arrays, reports statistics, writes actual. */
class VirtioBalloonTest {

    private static final long RAM = 4 << 20;
    private static final int PAGE = 4096;

    private final GuestMemory memory = TestMemory.allocate(RAM);
    private final DriverQueue inflateq = new DriverQueue(memory, 0x1000, 8);
    private final DriverQueue deflateq = new DriverQueue(memory, 0x20000, 8);
    private final DriverQueue statsq = new DriverQueue(memory, 0x40000, 8);
    private final AtomicInteger configInterrupts = new AtomicInteger();
    private final List<Integer> usedInterrupts = new ArrayList<>();
    private final AtomicInteger resets = new AtomicInteger();

    @AfterEach
    void closeMemory() {
        memory.close();
    }

    private VirtioBalloon activate(VirtioBalloon balloon) throws Exception {
        List<Virtqueue> queues = List.of(inflateq.deviceQueue(VirtioBalloon.QUEUE_SIZE),
                deflateq.deviceQueue(VirtioBalloon.QUEUE_SIZE), statsq.deviceQueue(VirtioBalloon.QUEUE_SIZE));
        for (Virtqueue queue : queues) {
            queue.activate(memory, false, true);
        }
        VirtioInterrupts interrupts = new VirtioInterrupts() {
            @Override
            public synchronized void usedBuffers(int queue) {
                usedInterrupts.add(queue);
            }

            @Override
            public void configChanged() {
                configInterrupts.incrementAndGet();
            }
        };
        balloon.activate(new DeviceContext(memory, balloon.deviceFeatures(), queues, interrupts, resets::incrementAndGet));
        return balloon;
    }

    private static byte[] pfns(long... frames) {
        ByteBuffer bytes = ByteBuffer.allocate(4 * frames.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long frame : frames) {
            bytes.putInt((int) frame);
        }
        return bytes.array();
    }

    private int send(DriverQueue queue, byte[] data) {
        return queue.addChain(List.of(Buffer.readable(queue.allocate(data), data.length)));
    }

    private static byte[] pattern(int length, int seed) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (seed + i * 7 + 1);
        }
        return bytes;
    }

    @Test
    void targetChangeRaisesConfigInterruptAndIsReadableInConfig() throws Exception {
        VirtioBalloon balloon = new VirtioBalloon(RAM);
        balloon.setTargetBytes(RAM - 2 * PAGE); // before the driver: read at probe, no interrupt
        assertEquals(0, configInterrupts.get());
        activate(balloon);
        assertEquals(2, balloon.readConfig(0, 4), "num_pages");

        balloon.setTargetBytes(3 << 20); // QMP balloon 3M of a 4M guest
        assertEquals(1, configInterrupts.get());
        assertEquals(256, balloon.readConfig(0, 4));
        assertEquals(256, balloon.targetPages());
        assertEquals(3 << 20, balloon.targetBytes());
        assertEquals(0, balloon.readConfig(0, 1), "byte-wise access: 256 = 0x100");
        assertEquals(1, balloon.readConfig(1, 1));

        balloon.setTargetBytes(3 << 20);
        assertEquals(1, configInterrupts.get(), "same target, no interrupt");
        balloon.setTargetBytes(RAM * 2);
        assertEquals(0, balloon.targetPages(), "more than RAM means deflate completely, as in QEMU");
        assertThrows(IllegalArgumentException.class, () -> balloon.setTargetBytes(0));

        balloon.writeConfig(0, 4, 12345);
        assertEquals(0, balloon.readConfig(0, 4), "num_pages is the host's");
    }

    @Test
    void driverWritesActualWhichQueryBalloonReports() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        List<Long> events = new ArrayList<>();
        balloon.setActualListener(events::add);
        assertEquals(RAM, balloon.actualBytes());

        balloon.writeConfig(4, 4, 256);
        assertEquals(256, balloon.readConfig(4, 4));
        assertEquals(256, balloon.actualPages());
        assertEquals(RAM - (1 << 20), balloon.actualBytes());
        assertEquals(List.of(RAM - (1 << 20)), events, "BALLOON_CHANGE");

        balloon.writeConfig(5, 1, 2); // byte 5 only: 0x200
        assertEquals(512, balloon.actualPages());
        balloon.writeConfig(4, 4, -1);
        assertEquals(0, balloon.actualBytes(), "a driver claiming more than RAM does not make actual negative");

        balloon.reset();
        assertEquals(RAM, balloon.actualBytes(), "a reset driver holds no pages");
    }

    @Test
    void inflatedPagesAreDiscardedAndReadBackZero() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        long frame = 0x300; // pages at 3 MiB, away from the rings and buffers
        byte[] middle = pattern(PAGE, 2);
        memory.write(frame * PAGE, pattern(PAGE, 1));
        memory.write((frame + 1) * PAGE, middle);
        memory.write((frame + 2) * PAGE, pattern(PAGE, 3));
        int head = send(inflateq, pfns(frame, frame + 2));
        balloon.queueNotify(VirtioBalloon.INFLATEQ);

        assertEquals(new DriverQueue.Used(head, 0), inflateq.nextUsed());
        assertEquals(List.of(VirtioBalloon.INFLATEQ), usedInterrupts);
        assertArrayEquals(new byte[PAGE], memory.read(frame * PAGE, PAGE), "inflated page went back to the host");
        assertArrayEquals(new byte[PAGE], memory.read((frame + 2) * PAGE, PAGE));
        assertArrayEquals(middle, memory.read((frame + 1) * PAGE, PAGE), "a page not in the balloon keeps its contents");
    }

    @Test
    void pfnsOutsideRamAreSkippedAndTheRestStillInflate() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        long frame = 0x310;
        memory.write(frame * PAGE, pattern(PAGE, 4));
        long pastRam = RAM / PAGE;
        int head = send(inflateq, pfns(pastRam, 0xFFFF_FFFFL, 0xFEE00, frame));
        balloon.queueNotify(VirtioBalloon.INFLATEQ);

        assertEquals(new DriverQueue.Used(head, 0), inflateq.nextUsed());
        assertArrayEquals(new byte[PAGE], memory.read(frame * PAGE, PAGE), "the valid PFN after the bad ones is discarded");
        assertEquals(0, resets.get(), "bad PFNs are ignored as QEMU does, not a reset");
    }

    @Test
    void trailingBytesOfAnOddLengthPfnArrayAreIgnored() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        long frame = 0x320;
        memory.write(frame * PAGE, pattern(PAGE, 5));
        memory.write((frame + 1) * PAGE, pattern(PAGE, 6));
        byte[] data = new byte[7]; // one whole PFN and three bytes of a second
        System.arraycopy(pfns(frame, frame + 1), 0, data, 0, 7);
        int head = send(inflateq, data);
        balloon.queueNotify(VirtioBalloon.INFLATEQ);

        assertEquals(new DriverQueue.Used(head, 0), inflateq.nextUsed());
        assertArrayEquals(new byte[PAGE], memory.read(frame * PAGE, PAGE));
        assertArrayEquals(pattern(PAGE, 6), memory.read((frame + 1) * PAGE, PAGE), "the partial PFN is not guessed at");
        assertEquals(0, resets.get());
    }

    @Test
    void deflateIsAcceptedAndLeavesMemoryAlone() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        long frame = 0x330;
        memory.write(frame * PAGE, pattern(PAGE, 7));
        int head = send(deflateq, pfns(frame));
        balloon.queueNotify(VirtioBalloon.DEFLATEQ);
        assertEquals(new DriverQueue.Used(head, 0), deflateq.nextUsed());
        assertEquals(List.of(VirtioBalloon.DEFLATEQ), usedInterrupts);
        assertArrayEquals(pattern(PAGE, 7), memory.read(frame * PAGE, PAGE));
    }

    private static byte[] stats(long[][] tagsAndValues) {
        ByteBuffer bytes = ByteBuffer.allocate(10 * tagsAndValues.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long[] stat : tagsAndValues) {
            bytes.putShort((short) stat[0]).putLong(stat[1]);
        }
        return bytes.array();
    }

    @Test
    void statisticsAreParsedHeldAndRequestedAgain() throws Exception {
        VirtioBalloon balloon = new VirtioBalloon(RAM);
        assertTrue((balloon.deviceFeatures() & VirtioFeatures.bit(VirtioBalloon.F_STATS_VQ)) != 0);
        BalloonStats before = balloon.latestStats();
        assertEquals(0, before.lastUpdate());
        assertEquals(BalloonStats.UNSET, before.get("stat-free-memory"));

        // Linux primes statsq before DRIVER_OK; activation must pick that buffer up.
        long buffer = statsq.allocate(stats(new long[][] {
                {0, 11}, {1, 22}, {4, 1_000_000_000L}, {5, 4L << 30}, {6, 3L << 30}, {7, 5555}, {99, 7}}));
        int head = statsq.addChain(List.of(Buffer.readable(buffer, 70)));
        activate(balloon);

        BalloonStats first = balloon.latestStats();
        assertTrue(Math.abs(first.lastUpdate() - System.currentTimeMillis() / 1000) <= 5);
        assertEquals(11, first.get("stat-swap-in"));
        assertEquals(22, first.get("stat-swap-out"));
        assertEquals(1_000_000_000L, first.get("stat-free-memory"));
        assertEquals(4L << 30, first.get("stat-total-memory"));
        assertEquals(3L << 30, first.get("stat-available-memory"));
        assertEquals(5555, first.get("stat-disk-caches"));
        assertEquals(BalloonStats.UNSET, first.get("stat-major-faults"), "not reported");
        assertEquals(BalloonStats.NAMES, List.copyOf(first.values().keySet()), "unknown tag 99 ignored, QEMU's names in tag order");
        assertNull(statsq.nextUsed(), "the buffer is held until we want new stats");

        assertTrue(balloon.requestStats());
        assertEquals(new DriverQueue.Used(head, 0), statsq.nextUsed());
        assertTrue(usedInterrupts.contains(VirtioBalloon.STATSQ));
        assertFalse(balloon.requestStats(), "the guest has the buffer");

        // The driver answers with fewer statistics: the old ones must not linger.
        memory.write(buffer, stats(new long[][] {{4, 42}}));
        statsq.addChain(List.of(Buffer.readable(buffer, 10)));
        balloon.queueNotify(VirtioBalloon.STATSQ);
        BalloonStats second = balloon.latestStats();
        assertEquals(42, second.get("stat-free-memory"));
        assertEquals(BalloonStats.UNSET, second.get("stat-swap-in"));
    }

    @Test
    void partialStatRecordIsIgnored() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        byte[] data = new byte[15]; // one record and half of another
        System.arraycopy(stats(new long[][] {{5, 123}, {4, 456}}), 0, data, 0, 15);
        send(statsq, data);
        balloon.queueNotify(VirtioBalloon.STATSQ);
        assertEquals(123, balloon.latestStats().get("stat-total-memory"));
        assertEquals(BalloonStats.UNSET, balloon.latestStats().get("stat-free-memory"));
        assertEquals(0, resets.get());
    }

    @Test
    void pollingIntervalReturnsTheBufferAfterEachReport() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        long buffer = statsq.allocate(stats(new long[][] {{4, 1}}));
        int head = statsq.addChain(List.of(Buffer.readable(buffer, 10)));
        balloon.queueNotify(VirtioBalloon.STATSQ);
        assertNull(statsq.nextUsed());

        balloon.setStatsPollingInterval(1); // enabling asks at once
        assertEquals(new DriverQueue.Used(head, 0), awaitUsed(statsq, Duration.ofSeconds(5)));

        memory.write(buffer, stats(new long[][] {{4, 2}}));
        statsq.publish(head);
        long reported = System.nanoTime();
        balloon.queueNotify(VirtioBalloon.STATSQ);
        assertEquals(2, balloon.latestStats().get("stat-free-memory"));
        assertEquals(new DriverQueue.Used(head, 0), awaitUsed(statsq, Duration.ofSeconds(5)));
        assertTrue(System.nanoTime() - reported >= Duration.ofMillis(900).toNanos(), "asked again one interval after the report");

        balloon.setStatsPollingInterval(0);
        statsq.publish(head);
        balloon.queueNotify(VirtioBalloon.STATSQ);
        Thread.sleep(1500);
        assertNull(statsq.nextUsed(), "polling stopped: the buffer stays with us");
    }

    private static DriverQueue.Used awaitUsed(DriverQueue queue, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        DriverQueue.Used used;
        while ((used = queue.nextUsed()) == null) {
            assertTrue(System.nanoTime() < deadline, "nothing came back in " + timeout);
            Thread.sleep(5);
        }
        return used;
    }

    @Test
    void brokenRingNeedsReset() throws Exception {
        VirtioBalloon balloon = activate(new VirtioBalloon(RAM));
        inflateq.writeDescriptor(0, 0, 16, DriverQueue.F_NEXT, 0); // a chain that loops on itself
        inflateq.publish(0);
        balloon.queueNotify(VirtioBalloon.INFLATEQ);
        assertEquals(1, resets.get());
        assertNull(inflateq.nextUsed());
        balloon.queueNotify(VirtioBalloon.DEFLATEQ);
        assertEquals(1, resets.get());
    }

    @Test
    void deflateOnOomIsOfferedOnRequest() {
        long bit = VirtioFeatures.bit(VirtioBalloon.F_DEFLATE_ON_OOM);
        assertEquals(0, new VirtioBalloon(RAM).deviceFeatures() & bit);
        assertEquals(bit, new VirtioBalloon(RAM, true).deviceFeatures() & bit);
    }
}
