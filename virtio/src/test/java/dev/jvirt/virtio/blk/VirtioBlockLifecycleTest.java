package dev.jvirt.virtio.blk;

import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.testing.DriverQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Features, config space, workers from activation to reset, and malformed chains that need a reset. */
class VirtioBlockLifecycleTest {

    private static final int DISK_SIZE = 3 << 20;

    @TempDir
    Path dir;

    private Path disk() throws Exception {
        Path path = dir.resolve("disk.raw");
        byte[] content = new byte[DISK_SIZE];
        Arrays.fill(content, (byte) 0x42);
        Files.write(path, content);
        return path;
    }

    private static boolean has(long features, int bit) {
        return (features & (1L << bit)) != 0;
    }

    @Test
    void featuresAndConfigDescribeTheImage() throws Exception {
        try (VirtioBlock device = VirtioBlock.open(VirtioBlockOptions.of(disk()).withQueues(3).withDiscard(DiscardMode.UNMAP))) {
            assertEquals(VirtioDeviceType.BLOCK, device.deviceType());
            long features = device.deviceFeatures();
            for (int bit : new int[] {VirtioFeatures.VERSION_1, VirtioFeatures.RING_INDIRECT_DESC, VirtioFeatures.RING_EVENT_IDX,
                    VirtioBlk.F_SIZE_MAX, VirtioBlk.F_SEG_MAX, VirtioBlk.F_BLK_SIZE, VirtioBlk.F_FLUSH, VirtioBlk.F_CONFIG_WCE,
                    VirtioBlk.F_MQ, VirtioBlk.F_DISCARD, VirtioBlk.F_WRITE_ZEROES}) {
                assertTrue(has(features, bit), "feature " + bit);
            }
            assertFalse(has(features, VirtioBlk.F_RO));
            assertEquals(3, device.queueCount());
            assertEquals(256, device.queueMaxSize(2));
            assertEquals(VirtioBlk.CONFIG_SIZE, device.configSize());

            long capacity = DISK_SIZE / 512;
            assertEquals(capacity, device.readConfig(VirtioBlk.CONFIG_CAPACITY, 4) & 0xFFFFFFFFL);
            assertEquals(0, device.readConfig(VirtioBlk.CONFIG_CAPACITY + 4, 4));
            assertEquals(capacity & 0xFF, device.readConfig(VirtioBlk.CONFIG_CAPACITY, 1));
            assertEquals(capacity & 0xFFFF, device.readConfig(VirtioBlk.CONFIG_CAPACITY, 2));
            assertEquals(VirtioBlock.SIZE_MAX, device.readConfig(VirtioBlk.CONFIG_SIZE_MAX, 4));
            assertEquals(254, device.readConfig(VirtioBlk.CONFIG_SEG_MAX, 4));
            assertEquals(512, device.readConfig(VirtioBlk.CONFIG_BLK_SIZE, 4));
            assertEquals(1, device.readConfig(VirtioBlk.CONFIG_WRITEBACK, 1));
            assertEquals(3, device.readConfig(VirtioBlk.CONFIG_NUM_QUEUES, 2));
            assertEquals(Integer.MAX_VALUE / 512, device.readConfig(VirtioBlk.CONFIG_MAX_DISCARD_SECTORS, 4));
            assertEquals(256, device.readConfig(VirtioBlk.CONFIG_MAX_DISCARD_SEG, 4));
            assertEquals(1, device.readConfig(VirtioBlk.CONFIG_DISCARD_SECTOR_ALIGNMENT, 4));
            assertEquals(Integer.MAX_VALUE / 512, device.readConfig(VirtioBlk.CONFIG_MAX_WRITE_ZEROES_SECTORS, 4));
            assertEquals(256, device.readConfig(VirtioBlk.CONFIG_MAX_WRITE_ZEROES_SEG, 4));
            assertEquals(1, device.readConfig(VirtioBlk.CONFIG_WRITE_ZEROES_MAY_UNMAP, 1));
            assertEquals(0, device.readConfig(16, 4), "geometry is not offered");
        }
        try (VirtioBlock device = VirtioBlock.open(VirtioBlockOptions.of(disk()).withLogicalBlockSize(4096))) {
            assertFalse(has(device.deviceFeatures(), VirtioBlk.F_MQ), "one queue, no MQ");
            assertEquals(8, device.readConfig(VirtioBlk.CONFIG_DISCARD_SECTOR_ALIGNMENT, 4));
            assertEquals(0, device.readConfig(VirtioBlk.CONFIG_MAX_DISCARD_SECTORS, 4) % 8, "whole 4K blocks");
        }
    }

    @Test
    void optionsAreCheckedAndDiscardParsesQemuSpellings() {
        VirtioBlockOptions options = VirtioBlockOptions.of(Path.of("x"));
        assertThrows(IllegalArgumentException.class, () -> options.withQueues(0));
        assertThrows(IllegalArgumentException.class, () -> options.withQueues(VirtioBlockOptions.MAX_QUEUES + 1));
        assertThrows(IllegalArgumentException.class, () -> options.withQueueSize(100));
        assertThrows(IllegalArgumentException.class, () -> options.withQueueSize(2));
        assertThrows(IllegalArgumentException.class, () -> options.withLogicalBlockSize(1000));
        assertThrows(IllegalArgumentException.class, () -> options.withLogicalBlockSize(256));
        assertEquals(DiscardMode.UNMAP, DiscardMode.parse("unmap"));
        assertEquals(DiscardMode.UNMAP, DiscardMode.parse("on"));
        assertEquals(DiscardMode.IGNORE, DiscardMode.parse("ignore"));
        assertEquals(DiscardMode.IGNORE, DiscardMode.parse("off"));
        assertThrows(IllegalArgumentException.class, () -> DiscardMode.parse("trim"));
        assertThrows(java.io.IOException.class, () -> VirtioBlock.open(VirtioBlockOptions.of(dir.resolve("missing.raw"))));
    }

    @Test
    void eachQueueHasAWorkerThreadAndResetEndsThemAll() throws Exception {
        VirtioBlock device = VirtioBlock.open(VirtioBlockOptions.of(disk()).withQueues(4));
        List<Thread> threads;
        try (BlkGuest guest = new BlkGuest(device).activate()) {
            threads = new ArrayList<>(device.workerThreads());
            assertEquals(4, threads.size());
            for (Thread thread : threads) {
                assertTrue(thread.isAlive());
            }
            for (int q = 0; q < 4; q++) {
                assertEquals(VirtioBlk.S_OK, guest.request(q, VirtioBlk.T_IN, q * 8, null, 512).status());
                assertTrue(guest.interrupts.get(q) > 0, "interrupt on queue " + q);
            }
            device.reset();
            for (Thread thread : threads) {
                assertFalse(thread.isAlive(), thread.getName());
            }
            assertEquals(List.of(), device.workerThreads());
            device.queueNotify(0);   // kicks after reset are ignored
            device.reset();          // and a second reset is harmless

            guest.activate(~(1L << VirtioBlk.F_MQ));
            assertEquals(1, device.workerThreads().size(), "without MQ only queue 0 is served");
            threads = new ArrayList<>(device.workerThreads());
            assertTrue(threads.getFirst().isAlive());
        }
        // close() (through the guest) stops the device too.
        assertFalse(threads.getFirst().isAlive());
    }

    @Test
    void manyRequestsInOneKickAllComplete() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            DriverQueue driver = guest.driver(0);
            long[] data = new long[BlkGuest.RING_SIZE / 2];
            for (int i = 0; i < data.length; i++) {
                long header = driver.allocate(BlkGuest.header(VirtioBlk.T_IN, i));
                data[i] = driver.allocate(513);
                driver.addChain(List.of(DriverQueue.Buffer.readable(header, 16), DriverQueue.Buffer.writable(data[i], 513)));
            }
            guest.device.queueNotify(0);
            for (int i = 0; i < data.length; i++) {
                assertEquals(513, guest.awaitUsed(0).length());
            }
            for (long at : data) {
                assertEquals(VirtioBlk.S_OK, guest.memory.readU8(at + 512));
                assertEquals(0x42, guest.memory.readU8(at));
            }
        }
    }

    @Test
    void eventIndexSuppressesTheInterruptTheDriverDidNotAskFor() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            DriverQueue driver = guest.driver(0);
            driver.setUsedEvent(1);   // interrupt once the used index passes 1: not for the first request
            guest.read(0, 512);
            assertEquals(0, guest.interrupts.get(0));
            assertEquals(1, driver.availableEvent(), "the device says where it is");
            guest.read(0, 512);
            assertEquals(1, guest.interrupts.get(0));
        }
    }

    @Test
    void withoutEventIndexEachBatchInterruptsOnceAndNoInterruptIsHonoured() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk())))
                .activate(~(1L << VirtioFeatures.RING_EVENT_IDX))) {
            Thread.sleep(50);
            assertEquals(0, guest.interrupts.get(0), "activation alone completes nothing");
            guest.read(0, 512);
            assertEquals(1, guest.interrupts.get(0));
            guest.driver(0).setNoInterrupt(true);
            guest.read(0, 512);
            assertEquals(1, guest.interrupts.get(0));
            assertEquals(0, guest.driver(0).usedFlags(), "kicks are wanted again once the queue is drained");
        }
    }

    @Test
    void chainWithoutStatusByteNeedsResetAndTheDeviceWorksAgainAfterReset() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            DriverQueue driver = guest.driver(0);
            long header = driver.allocate(BlkGuest.header(VirtioBlk.T_OUT, 0));
            long data = driver.allocate(new byte[512]);
            driver.addChain(List.of(DriverQueue.Buffer.readable(header, 16), DriverQueue.Buffer.readable(data, 512)));
            // A good request behind it must not be served by a broken device.
            long goodHeader = driver.allocate(BlkGuest.header(VirtioBlk.T_OUT, 0));
            long status = driver.allocate(1);
            driver.addChain(List.of(DriverQueue.Buffer.readable(goodHeader, 16), DriverQueue.Buffer.readable(data, 512),
                    DriverQueue.Buffer.writable(status, 1)));
            guest.device.queueNotify(0);
            guest.awaitNeedsReset();
            guest.device.queueNotify(0);
            Thread.sleep(50);
            assertEquals(0, driver.usedIndex(), "nothing completed");
            assertEquals(1, guest.needsReset.get(), "asked once");

            guest.device.reset();
            guest.activate();
            BlkGuest.Completion read = guest.read(0, 512);
            assertEquals(VirtioBlk.S_OK, read.status());
            assertEquals(0x42, read.data()[0], "the zero write above never happened");
        }
    }

    @Test
    @Timeout(value = 20, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void resetUnderTheTransportLockDoesNotWaitForAWorkerBlockedOnThatLock() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            Object transportLock = new Object();
            guest.needsResetHook = () -> {
                synchronized (transportLock) {
                    // the transport sets NEEDS_RESET under its lock
                }
            };
            Thread worker = guest.device.workerThreads().getFirst();
            DriverQueue driver = guest.driver(0);
            long header = driver.allocate(BlkGuest.header(VirtioBlk.T_IN, 0));
            driver.addChain(List.of(DriverQueue.Buffer.readable(header, 16)));
            ExecutorService vcpu = Executors.newSingleThreadExecutor();
            try {
                Future<?> reset = vcpu.submit(() -> {
                    synchronized (transportLock) {
                        guest.device.queueNotify(0);
                        Thread.sleep(200);   // the worker is now waiting for transportLock in needsReset
                        guest.device.reset();
                    }
                    return null;
                });
                reset.get(5, TimeUnit.SECONDS);
            } finally {
                vcpu.shutdownNow();
            }
            worker.join(5000);
            assertFalse(worker.isAlive(), "the worker ends once the callback returns");
        }
    }

    @Test
    void headerShorterThan16BytesNeedsReset() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            DriverQueue driver = guest.driver(0);
            long header = driver.allocate(Arrays.copyOf(BlkGuest.header(VirtioBlk.T_IN, 0), 8));
            long in = driver.allocate(513);
            driver.addChain(List.of(DriverQueue.Buffer.readable(header, 8), DriverQueue.Buffer.writable(in, 513)));
            guest.device.queueNotify(0);
            guest.awaitNeedsReset();
            assertEquals(0, driver.usedIndex());
        }
    }

    @Test
    void headerSplitOverTwoBuffersIsFine() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            DriverQueue driver = guest.driver(0);
            byte[] header = BlkGuest.header(VirtioBlk.T_IN, 1);
            long first = driver.allocate(Arrays.copyOf(header, 8));
            long second = driver.allocate(Arrays.copyOfRange(header, 8, 16));
            long in = driver.allocate(513);
            driver.addChain(List.of(DriverQueue.Buffer.readable(first, 8), DriverQueue.Buffer.readable(second, 8),
                    DriverQueue.Buffer.writable(in, 513)));
            guest.device.queueNotify(0);
            assertEquals(513, guest.awaitUsed(0).length());
            assertEquals(VirtioBlk.S_OK, guest.memory.readU8(in + 512));
        }
    }

    @Test
    void bufferOutsideGuestRamIsRefusedByTheQueueAndTheDeviceNeedsReset() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            DriverQueue driver = guest.driver(0);
            long header = driver.allocate(BlkGuest.header(VirtioBlk.T_IN, 0));
            long outside = guest.memory.ramSize() + 0x1000;
            driver.addChain(List.of(DriverQueue.Buffer.readable(header, 16), DriverQueue.Buffer.writable(outside, 513)));
            guest.device.queueNotify(0);
            guest.awaitNeedsReset();
            assertEquals(0, driver.usedIndex());

            // An oversized buffer that starts in RAM and runs past its end is refused the same way.
            guest.device.reset();
            guest.needsReset.set(0);
            guest.activate();
            driver = guest.driver(0);
            header = driver.allocate(BlkGuest.header(VirtioBlk.T_IN, 0));
            driver.addChain(List.of(DriverQueue.Buffer.readable(header, 16),
                    DriverQueue.Buffer.writable(guest.memory.ramSize() - 4096, 0x7FFF_0000)));
            guest.device.queueNotify(0);
            guest.awaitNeedsReset();
            assertEquals(0, driver.usedIndex());
        }
    }

    @Test
    void kicksForQueuesThatDoNotExistAreIgnored() throws Exception {
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(disk()))).activate()) {
            guest.device.queueNotify(1);
            guest.device.queueNotify(-1);
            guest.device.queueNotify(65535);
            assertEquals(VirtioBlk.S_OK, guest.read(0, 512).status());
            assertEquals(0, guest.needsReset.get());
        }
    }

    @Test
    void readWriteThroughTheSecondQueue() throws Exception {
        Path path = disk();
        byte[] data = VirtioBlockIoTest.pattern(1024, 77);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withQueues(2))).activate()) {
            assertEquals(VirtioBlk.S_OK, guest.request(1, VirtioBlk.T_OUT, 40, data, 0).status());
            assertArrayEquals(data, guest.request(0, VirtioBlk.T_IN, 40, null, 1024).data());
            assertEquals(1, guest.interrupts.get(1));
        }
        assertArrayEquals(data, Arrays.copyOfRange(Files.readAllBytes(path), 40 * 512, 40 * 512 + 1024));
    }
}
