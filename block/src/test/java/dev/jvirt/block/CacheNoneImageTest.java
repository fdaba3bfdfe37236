package dev.jvirt.block;

import dev.jvirt.block.qcow2.Qcow2Creator;
import dev.jvirt.block.raw.RawImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * cache=none end to end: raw and qcow2 images written through O_DIRECT are the images the same
 * writes give through the page cache, by qemu-img's own check, compare and info; and a file system
 * without O_DIRECT fails the open with QEMU's message instead of quietly caching.
 */
class CacheNoneImageTest {

    private static final long DISK = 8 << 20;

    @TempDir
    Path dir;

    @Test
    void qcow2WrittenWithCacheNoneMatchesWriteback() throws Exception {
        needsDirectIoAndQemuImg();
        Path direct = dir.resolve("none.qcow2");
        Path buffered = dir.resolve("writeback.qcow2");
        for (Path path : List.of(direct, buffered)) {
            Qcow2Creator.create(path, Qcow2Creator.Options.defaults(DISK));
        }
        replay(direct, CacheMode.NONE, "qcow2");
        replay(buffered, CacheMode.WRITEBACK, "qcow2");

        String check = run("qemu-img", "check", direct.toString());
        assertTrue(check.contains("No errors were found on the image."), check);
        run("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", direct.toString(), buffered.toString());
        assertEquals(Files.size(buffered), Files.size(direct), "same allocations, same file length");
        assertEquals(info(buffered), info(direct));
    }

    @Test
    void rawWrittenWithCacheNoneMatchesWriteback() throws Exception {
        needsDirectIoAndQemuImg();
        Path direct = dir.resolve("none.raw");
        Path buffered = dir.resolve("writeback.raw");
        for (Path path : List.of(direct, buffered)) {
            // An odd length: the last block is partial, and stays so.
            RawImage.create(path, DISK + 1000);
        }
        replay(direct, CacheMode.NONE, "raw");
        replay(buffered, CacheMode.WRITEBACK, "raw");

        assertEquals(DISK + 1000, Files.size(direct));
        run("qemu-img", "compare", "-f", "raw", "-F", "raw", direct.toString(), buffered.toString());
        assertArrayEquals(Files.readAllBytes(buffered), Files.readAllBytes(direct));
    }

    @Test
    void directsyncImagesReadBackWhatWasWritten() throws Exception {
        needsDirectIoAndQemuImg();
        Path direct = dir.resolve("directsync.qcow2");
        Path buffered = dir.resolve("writethrough.qcow2");
        for (Path path : List.of(direct, buffered)) {
            Qcow2Creator.create(path, Qcow2Creator.Options.defaults(DISK));
        }
        replay(direct, CacheMode.DIRECTSYNC, "qcow2");
        replay(buffered, CacheMode.WRITETHROUGH, "qcow2");
        String check = run("qemu-img", "check", direct.toString());
        assertTrue(check.contains("No errors were found on the image."), check);
        run("qemu-img", "compare", direct.toString(), buffered.toString());
    }

    @Test
    void overlayAndItsBackingFileOpenDirectAndReadThroughTheChain() throws Exception {
        needsDirectIoAndQemuImg();
        Path base = dir.resolve("base.qcow2");
        Qcow2Creator.create(base, Qcow2Creator.Options.defaults(DISK));
        replay(base, CacheMode.WRITEBACK, "qcow2");
        Path direct = dir.resolve("overlay-none.qcow2");
        Path buffered = dir.resolve("overlay-writeback.qcow2");
        for (Path path : List.of(direct, buffered)) {
            Qcow2Creator.create(path, new Qcow2Creator.Options(DISK, 65536, true, false, "base.qcow2", "qcow2"));
        }
        byte[] data = DirectFileChannelTest.bytes(70_000, 3);
        for (Path path : List.of(direct, buffered)) {
            CacheMode cache = path == direct ? CacheMode.NONE : CacheMode.WRITEBACK;
            try (BlockDriver disk = Images.open(path, new OpenOptions(false, cache, null))) {
                disk.write(100_001, data, 0, data.length);
            }
        }
        try (BlockDriver overDirect = Images.open(direct, new OpenOptions(true, CacheMode.NONE, null));
             BlockDriver overBuffered = Images.open(buffered, new OpenOptions(true, CacheMode.WRITEBACK, null))) {
            byte[] a = new byte[300_000];
            byte[] b = new byte[300_000];
            overDirect.read(0, a, 0, a.length);
            overBuffered.read(0, b, 0, b.length);
            assertArrayEquals(b, a, "the overlay's clusters over the backing file's, the same through O_DIRECT");
        }
        try (BlockDriver overlay = Images.open(direct, new OpenOptions(true, CacheMode.NONE, null))) {
            assertTrue((DirectFileChannelTest.OpenFlags.of(base) & DirectFileChannelTest.OpenFlags.O_DIRECT) != 0,
                    "the backing file bypasses the page cache too, as QEMU's cache.direct is inherited");
        }
        run("qemu-img", "compare", direct.toString(), buffered.toString());
        String check = run("qemu-img", "check", direct.toString());
        assertTrue(check.contains("No errors were found on the image."), check);
    }

    @Test
    void fileSystemWithoutODirectFailsTheOpenLikeQemu() throws Exception {
        // procfs has no direct I/O on any kernel; open(2) answers EINVAL as it would on an old tmpfs.
        Path path = Path.of("/proc/self/status");
        assumeTrue(Files.isReadable(path), "no procfs");
        ImageException e = assertThrows(ImageException.class,
                () -> Images.open(path, new OpenOptions(true, CacheMode.NONE, "raw")));
        assertEquals("Could not open '/proc/self/status': filesystem does not support O_DIRECT", e.getMessage());
        try (BlockDriver cached = Images.open(path, new OpenOptions(true, CacheMode.WRITEBACK, "raw"))) {
            assertEquals("raw", cached.format(), "the same file opens through the page cache");
        }
    }

    @Test
    void tmpfsWithoutODirectFailsTheOpenLikeQemu() throws Exception {
        Path shm = Path.of("/dev/shm");
        assumeTrue(Files.isDirectory(shm) && "tmpfs".equals(Files.getFileStore(shm).type()), "/dev/shm is not tmpfs");
        Path image = Files.createTempFile(shm, "jvirt-cache-none", ".raw");
        try {
            // tmpfs takes O_DIRECT since Linux 6.6; there, the open simply works.
            assumeTrue(!DirectFileChannelTest.DirectIoSupport.accepts(shm), "this kernel's tmpfs supports O_DIRECT");
            ImageException e = assertThrows(ImageException.class, () -> RawImage.open(image, false, CacheMode.NONE));
            assertEquals("Could not open '" + image + "': filesystem does not support O_DIRECT", e.getMessage());
        } finally {
            Files.delete(image);
        }
    }

    /** The same mix of writes for every cache mode: unaligned, cluster-sized, long, zeroes and flushes. */
    private static void replay(Path path, CacheMode cache, String format) throws IOException {
        Random random = new Random(42);
        try (BlockDriver disk = Images.open(path, new OpenOptions(false, cache, format))) {
            for (int op = 0; op < 400; op++) {
                int length = switch (op % 4) {
                    case 0 -> 1 + random.nextInt(700);
                    case 1 -> 65536;
                    case 2 -> 1 + random.nextInt(300_000);
                    default -> 512 * (1 + random.nextInt(16));
                };
                long position = (long) (random.nextDouble() * (disk.size() - length));
                if (op % 4 == 3) {
                    position &= ~511L;
                }
                if (op % 37 == 0) {
                    disk.writeZeroes(position, length);
                } else {
                    byte[] data = new byte[length];
                    random.nextBytes(data);
                    disk.write(position, data, 0, length);
                }
                if (op % 50 == 0) {
                    disk.flush();
                }
                byte[] back = new byte[Math.min(length, 4096)];
                disk.read(position, back, 0, back.length);
            }
            // The disk's last bytes: for the odd-sized raw file, a partial last block of the file.
            byte[] tail = new byte[300];
            random.nextBytes(tail);
            disk.write(disk.size() - tail.length, tail, 0, tail.length);
        }
    }

    private String info(Path path) throws Exception {
        return run("qemu-img", "info", "--output=json", path.toString()).replace(path.toString(), "IMAGE")
                .replaceAll("\"actual-size\": \\d+", "\"actual-size\": N");
    }

    private void needsDirectIoAndQemuImg() throws IOException {
        assumeTrue(DirectFileChannelTest.DirectIoSupport.accepts(dir), dir + " refuses O_DIRECT");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img not installed; scripts/setup installs it");
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(new ArrayList<>(List.of(command))).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertEquals(0, process.waitFor(), String.join(" ", command) + ":\n" + output);
        return output;
    }
}
