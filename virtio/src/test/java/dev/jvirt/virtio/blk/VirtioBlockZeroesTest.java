package dev.jvirt.virtio.blk;

import dev.jvirt.block.qcow2.Qcow2Creator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** DISCARD and WRITE_ZEROES: what reaches the image, and the requests a device must refuse. */
class VirtioBlockZeroesTest {

    private static final int DISK_SIZE = 1 << 20;

    @TempDir
    Path dir;

    private Path filledDisk() throws Exception {
        Path path = dir.resolve("disk.raw");
        byte[] content = new byte[DISK_SIZE];
        Arrays.fill(content, (byte) 0xAA);
        Files.write(path, content);
        return path;
    }

    private static void assertRange(byte[] file, int from, int to, int value) {
        for (int i = from; i < to; i++) {
            if (file[i] != (byte) value) {
                throw new AssertionError("byte " + i + " is " + (file[i] & 0xFF) + ", expected " + value);
            }
        }
    }

    @Test
    void writeZeroesZeroesExactlyTheRangeWithOrWithoutUnmap() throws Exception {
        Path path = filledDisk();
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path))).activate()) {
            assertEquals(VirtioBlk.S_OK, guest.request(VirtioBlk.T_WRITE_ZEROES, 0, BlkGuest.segment(4, 3, 0), 0).status());
            assertEquals(VirtioBlk.S_OK, guest.request(VirtioBlk.T_WRITE_ZEROES, 0,
                    BlkGuest.segment(100, 1, VirtioBlk.WRITE_ZEROES_FLAG_UNMAP), 0).status());
            assertArrayEquals(new byte[3 * 512], guest.read(4, 3 * 512).data());
        }
        byte[] file = Files.readAllBytes(path);
        assertRange(file, 0, 4 * 512, 0xAA);
        assertRange(file, 4 * 512, 7 * 512, 0);
        assertRange(file, 7 * 512, 100 * 512, 0xAA);
        assertRange(file, 100 * 512, 101 * 512, 0);
        assertRange(file, 101 * 512, DISK_SIZE, 0xAA);
    }

    @Test
    void discardWithUnmapZeroesEverySegmentAndIgnoreLeavesTheData() throws Exception {
        Path path = filledDisk();
        ByteArrayOutputStream segments = new ByteArrayOutputStream();
        segments.write(BlkGuest.segment(2, 4, 0));
        segments.write(BlkGuest.segment(50, 2, 0));
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withDiscard(DiscardMode.IGNORE))).activate()) {
            assertEquals(0, guest.device.readConfig(VirtioBlk.CONFIG_WRITE_ZEROES_MAY_UNMAP, 1));
            assertEquals(VirtioBlk.S_OK, guest.request(VirtioBlk.T_DISCARD, 0, segments.toByteArray(), 0).status());
        }
        assertRange(Files.readAllBytes(path), 0, DISK_SIZE, 0xAA);

        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withDiscard(DiscardMode.UNMAP))).activate()) {
            assertEquals(1, guest.device.readConfig(VirtioBlk.CONFIG_WRITE_ZEROES_MAY_UNMAP, 1));
            assertEquals(VirtioBlk.S_OK, guest.request(VirtioBlk.T_DISCARD, 0, segments.toByteArray(), 0).status());
        }
        byte[] file = Files.readAllBytes(path);
        assertRange(file, 0, 2 * 512, 0xAA);
        assertRange(file, 2 * 512, 6 * 512, 0);
        assertRange(file, 6 * 512, 50 * 512, 0xAA);
        assertRange(file, 50 * 512, 52 * 512, 0);
        assertRange(file, 52 * 512, DISK_SIZE, 0xAA);
    }

    @Test
    void qcow2WriteZeroesReadsBackAsZeroes() throws Exception {
        Path path = dir.resolve("disk.qcow2");
        Qcow2Creator.create(path, Qcow2Creator.Options.defaults(4L << 20));
        byte[] data = VirtioBlockIoTest.pattern(256 * 1024, 9);
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withDiscard(DiscardMode.UNMAP))).activate()) {
            assertEquals(VirtioBlk.S_OK, guest.write(0, data).status());
            // One whole 64K cluster and a partial one.
            assertEquals(VirtioBlk.S_OK, guest.request(VirtioBlk.T_WRITE_ZEROES, 0,
                    BlkGuest.segment(128, 130, VirtioBlk.WRITE_ZEROES_FLAG_UNMAP), 0).status());
            assertEquals(VirtioBlk.S_OK, guest.request(VirtioBlk.T_DISCARD, 0, BlkGuest.segment(400, 8, 0), 0).status());
            byte[] back = guest.read(0, data.length).data();
            byte[] expected = data.clone();
            Arrays.fill(expected, 128 * 512, 258 * 512, (byte) 0);
            Arrays.fill(expected, 400 * 512, 408 * 512, (byte) 0);
            assertArrayEquals(expected, back);
        }
    }

    @Test
    void badSegmentsAreRefusedAndNothingIsZeroed() throws Exception {
        Path path = filledDisk();
        long capacity = DISK_SIZE / 512;
        try (BlkGuest guest = new BlkGuest(VirtioBlock.open(VirtioBlockOptions.of(path).withDiscard(DiscardMode.UNMAP))).activate()) {
            assertEquals(VirtioBlk.S_UNSUPP, guest.request(VirtioBlk.T_DISCARD, 0,
                    BlkGuest.segment(0, 1, VirtioBlk.WRITE_ZEROES_FLAG_UNMAP), 0).status(), "UNMAP flag on a discard");
            assertEquals(VirtioBlk.S_UNSUPP, guest.request(VirtioBlk.T_WRITE_ZEROES, 0, BlkGuest.segment(0, 1, 2), 0).status(),
                    "unknown flag");
            assertEquals(VirtioBlk.S_IOERR, guest.request(VirtioBlk.T_WRITE_ZEROES, 0,
                    BlkGuest.segment(capacity - 1, 2, 0), 0).status(), "past the end");
            assertEquals(VirtioBlk.S_IOERR, guest.request(VirtioBlk.T_WRITE_ZEROES, 0,
                    BlkGuest.segment(-2, 4, 0), 0).status(), "wraps around");
            assertEquals(VirtioBlk.S_IOERR, guest.request(VirtioBlk.T_WRITE_ZEROES, 0,
                    BlkGuest.segment(0, -1, 0), 0).status(), "more sectors than max_write_zeroes_sectors");
            assertEquals(VirtioBlk.S_IOERR, guest.request(VirtioBlk.T_DISCARD, 0, new byte[10], 0).status(),
                    "partial segment");
            assertEquals(VirtioBlk.S_IOERR, guest.request(VirtioBlk.T_DISCARD, 0, null, 0).status(), "no segment");
            // A good segment followed by a bad one: neither is carried out.
            ByteArrayOutputStream mixed = new ByteArrayOutputStream();
            mixed.write(BlkGuest.segment(0, 8, 0));
            mixed.write(BlkGuest.segment(capacity, 1, 0));
            assertEquals(VirtioBlk.S_IOERR, guest.request(VirtioBlk.T_WRITE_ZEROES, 0, mixed.toByteArray(), 0).status());
            assertEquals(0, guest.needsReset.get());
        }
        assertRange(Files.readAllBytes(path), 0, DISK_SIZE, 0xAA);
    }
}
