package dev.jvirt.virtio.blk;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Creator;
import dev.jvirt.block.raw.RawImage;
import dev.jvirt.virtio.testing.DriverQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Reads, writes, GET_ID and the request errors a guest sees, through the ring, on raw and qcow2 images. */
class VirtioBlockIoTest {

    private static final int DISK_SIZE = 1 << 20;

    @TempDir
    Path dir;

    private Path rawDisk(byte fill) throws Exception {
        Path path = dir.resolve("disk.raw");
        byte[] content = new byte[DISK_SIZE];
        Arrays.fill(content, fill);
        Files.write(path, content);
        return path;
    }

    static byte[] pattern(int length, int seed) {
        byte[] data = new byte[length];
        for (int i = 0; i < length; i++) {
            data[i] = (byte) (i * 31 + seed + i / 512);
        }
        return data;
    }

    @Test
    void writeLandsInTheRawFileAtTheSectorOffsetAndReadsBack() throws Exception {
        Path path = rawDisk((byte) 0);
        byte[] data = pattern(4096, 7);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path))).activate()) {
            BlkGuest.Completion write = guest.write(10, data);
            assertEquals(VirtioBlk.S_OK, write.status());
            assertEquals(1, write.usedLength(), "OUT writes only the status byte");

            BlkGuest.Completion read = guest.read(10, 4096);
            assertEquals(VirtioBlk.S_OK, read.status());
            assertEquals(4097, read.usedLength());
            assertArrayEquals(data, read.data());
        }
        byte[] file = Files.readAllBytes(path);
        assertArrayEquals(data, Arrays.copyOfRange(file, 10 * 512, 10 * 512 + 4096));
        assertArrayEquals(new byte[10 * 512], Arrays.copyOfRange(file, 0, 10 * 512));
        assertEquals(0, file[10 * 512 + 4096]);
    }

    @Test
    void largeRequestSpreadOverBuffersOfOddSizesRoundTrips() throws Exception {
        Path path = dir.resolve("big.raw");
        RawImage.create(path, 4L << 20);
        int length = 2 * 256 * 1024 + 4096;
        byte[] data = pattern(length, 3);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withFormat("raw"))).activate()) {
            // Data split over three buffers of odd sizes (whole sectors overall), status in its own.
            DriverQueue driver = guest.driver(0);
            long header = driver.allocate(BlkGuest.header(VirtioBlk.T_OUT, 8));
            long a = driver.allocate(Arrays.copyOfRange(data, 0, 1000));
            long b = driver.allocate(Arrays.copyOfRange(data, 1000, length - 24));
            long c = driver.allocate(Arrays.copyOfRange(data, length - 24, length));
            long status = driver.allocate(1);
            driver.addChain(List.of(DriverQueue.Buffer.readable(header, 16), DriverQueue.Buffer.readable(a, 1000),
                    DriverQueue.Buffer.readable(b, length - 1024), DriverQueue.Buffer.readable(c, 24),
                    DriverQueue.Buffer.writable(status, 1)));
            guest.device.queueNotify(0);
            assertEquals(1, guest.awaitUsed(0).length());
            assertEquals(VirtioBlk.S_OK, guest.memory.readU8(status));

            // Read back into one buffer holding data and status together, as an indirect chain.
            long in = driver.allocate(length + 1);
            guest.memory.writeU8(in + length, 0xEE);
            driver.addIndirectChain(List.of(DriverQueue.Buffer.readable(driver.allocate(BlkGuest.header(VirtioBlk.T_IN, 8)), 16),
                    DriverQueue.Buffer.writable(in, length + 1)));
            guest.device.queueNotify(0);
            assertEquals(length + 1, guest.awaitUsed(0).length());
            assertEquals(VirtioBlk.S_OK, guest.memory.readU8(in + length));
            assertArrayEquals(data, guest.memory.read(in, length));
        }
        byte[] file = Files.readAllBytes(path);
        assertArrayEquals(data, Arrays.copyOfRange(file, 8 * 512, 8 * 512 + length));
    }

    @Test
    void qcow2ImageMadeByTheBlockLayerRoundTripsAndKeepsTheDataAfterReopening() throws Exception {
        Path path = dir.resolve("disk.qcow2");
        Qcow2Creator.create(path, Qcow2Creator.Options.defaults(8L << 20));
        byte[] data = pattern(70_000 / 512 * 512, 11);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path))).activate()) {
            assertEquals("qcow2", guest.device.disk().format(), "format probed");
            assertEquals(8L << 20 >> 9, guest.device.capacitySectors());
            assertEquals(VirtioBlk.S_OK, guest.write(125, data).status());
            assertArrayEquals(data, guest.read(125, data.length).data());
            assertArrayEquals(new byte[512], guest.read(124, 512).data(), "untouched sector reads as zeroes");
        }
        try (BlockDriver image = Images.open(path, OpenOptions.forReading())) {
            byte[] back = new byte[data.length];
            image.read(125 * 512L, back, 0, back.length);
            assertArrayEquals(data, back);
        }
    }

    @Test
    void qcow2OverlayReadsItsBackingFileAndWritesOnlyTheOverlay() throws Exception {
        Path base = rawDisk((byte) 0x5A);
        Path overlay = dir.resolve("overlay.qcow2");
        Qcow2Creator.create(overlay, new Qcow2Creator.Options(DISK_SIZE, 65536, true, false, base.toString(), "raw"));
        byte[] data = pattern(1024, 5);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(overlay).withFormat("qcow2"))).activate()) {
            byte[] expected = new byte[512];
            Arrays.fill(expected, (byte) 0x5A);
            assertArrayEquals(expected, guest.read(300, 512).data());
            assertEquals(VirtioBlk.S_OK, guest.write(300, data).status());
            assertArrayEquals(data, guest.read(300, 1024).data());
        }
        byte[] baseFile = Files.readAllBytes(base);
        for (byte b : baseFile) {
            assertEquals(0x5A, b, "backing file untouched");
        }
    }

    @Test
    void readOnlyDiskOffersRoRefusesWritesAndLeavesTheFileUnchanged() throws Exception {
        Path path = rawDisk((byte) 0x33);
        byte[] before = Files.readAllBytes(path);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withReadOnly(true))).activate()) {
            long features = guest.device.deviceFeatures();
            assertEquals(1L << VirtioBlk.F_RO, features & (1L << VirtioBlk.F_RO));
            assertEquals(0, features & (1L << VirtioBlk.F_DISCARD | 1L << VirtioBlk.F_WRITE_ZEROES));

            assertEquals(VirtioBlk.S_IOERR, guest.write(0, pattern(512, 1)).status());
            assertEquals(VirtioBlk.S_UNSUPP, guest.request(VirtioBlk.T_WRITE_ZEROES, 0, BlkGuest.segment(0, 1, 0), 0).status());
            assertEquals(VirtioBlk.S_OK, guest.request(VirtioBlk.T_FLUSH, 0, null, 0).status());
            BlkGuest.Completion read = guest.read(0, 512);
            assertEquals(VirtioBlk.S_OK, read.status());
            assertEquals(0x33, read.data()[0]);
        }
        assertArrayEquals(before, Files.readAllBytes(path));
    }

    @Test
    void sectorsBeyondTheCapacityOrWrappingAroundAreIoErrors() throws Exception {
        Path path = rawDisk((byte) 0);
        long capacity = DISK_SIZE / 512;
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path))).activate()) {
            assertEquals(VirtioBlk.S_OK, guest.read(capacity - 1, 512).status(), "last sector");
            assertEquals(VirtioBlk.S_OK, guest.read(capacity, 0).status(), "empty read at the end");
            assertEquals(VirtioBlk.S_IOERR, guest.read(capacity, 512).status());
            assertEquals(VirtioBlk.S_IOERR, guest.read(capacity - 1, 1024).status());
            assertEquals(VirtioBlk.S_IOERR, guest.write(capacity - 1, new byte[1024]).status());
            assertEquals(VirtioBlk.S_IOERR, guest.read(-1L, 512).status(), "sector 2^64-1");
            // sector * 512 wraps to a small positive offset in 64 bits
            assertEquals(VirtioBlk.S_IOERR, guest.write(1L << 55, new byte[512]).status());
            assertEquals(VirtioBlk.S_IOERR, guest.write(Long.MIN_VALUE + 1, new byte[512]).status());
            assertEquals(VirtioBlk.S_IOERR, guest.read(0, 100).status(), "not whole sectors");
            BlkGuest.Completion failed = guest.read(capacity, 512);
            assertEquals(1, failed.usedLength(), "nothing but the status byte written");
            assertArrayEquals(new byte[512], failed.data());
        }
        assertArrayEquals(new byte[DISK_SIZE], Files.readAllBytes(path));
    }

    @Test
    void logicalBlockSizeIsEnforcedOnSectorAndLength() throws Exception {
        Path path = rawDisk((byte) 0);
        VirtioBlockOptions options = VirtioBlockOptions.of(path).withLogicalBlockSize(4096);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(options)).activate()) {
            assertEquals(4096, guest.device.readConfig(VirtioBlk.CONFIG_BLK_SIZE, 4));
            assertEquals(VirtioBlk.S_OK, guest.read(8, 4096).status());
            assertEquals(VirtioBlk.S_IOERR, guest.read(1, 4096).status(), "sector not on a 4K boundary");
            assertEquals(VirtioBlk.S_IOERR, guest.read(8, 512).status(), "length not whole blocks");
        }
    }

    @Test
    void getIdReturnsTheSerialPaddedOrCutTo20Bytes() throws Exception {
        Path path = rawDisk((byte) 0);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withSerial("jvirt-0001"))).activate()) {
            BlkGuest.Completion id = guest.request(VirtioBlk.T_GET_ID, 0, null, 20);
            assertEquals(VirtioBlk.S_OK, id.status());
            assertEquals(21, id.usedLength());
            byte[] expected = new byte[20];
            System.arraycopy("jvirt-0001".getBytes(StandardCharsets.US_ASCII), 0, expected, 0, 10);
            assertArrayEquals(expected, id.data());
        }
        String longSerial = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withSerial(longSerial))).activate()) {
            BlkGuest.Completion id = guest.request(VirtioBlk.T_GET_ID, 0, null, 64);
            assertEquals(VirtioBlk.S_OK, id.status());
            assertEquals(21, id.usedLength(), "only 20 ID bytes written");
            assertEquals(longSerial.substring(0, 20), new String(id.data(), 0, 20, StandardCharsets.US_ASCII));
            assertEquals(0, id.data()[20]);
        }
    }

    @Test
    void unknownRequestTypesAreUnsupported() throws Exception {
        Path path = rawDisk((byte) 0);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path))).activate()) {
            for (int type : new int[] {2, 10, 14, 0x80000001, 99}) {
                BlkGuest.Completion done = guest.request(type, 0, null, 512);
                assertEquals(VirtioBlk.S_UNSUPP, done.status(), "type " + type);
                assertEquals(1, done.usedLength());
            }
            assertEquals(VirtioBlk.S_OK, guest.read(0, 512).status(), "the queue goes on");
        }
    }

    @Test
    void backendErrorIsAnIoErrorAndTheQueueGoesOn() throws Exception {
        Path path = rawDisk((byte) 0);
        BlockDriver failing = new FailingReads(RawImage.open(path, false, CacheMode.WRITEBACK));
        try (BlkGuest guest = new BlkGuest(new VirtioBlock(failing, VirtioBlockOptions.of(path))).activate()) {
            assertEquals(VirtioBlk.S_IOERR, guest.read(0, 512).status());
            assertEquals(VirtioBlk.S_OK, guest.write(0, new byte[512]).status());
            assertEquals(0, guest.needsReset.get());
        }
    }

    /** A disk whose reads fail, as a vanished NFS server would. */
    private static final class FailingReads extends ForwardingDisk {
        FailingReads(BlockDriver disk) {
            super(disk);
        }

        @Override
        public void read(long position, byte[] buffer, int offset, int length) throws java.io.IOException {
            throw new java.io.IOException("Input/output error");
        }
    }
}
