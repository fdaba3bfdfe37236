package dev.jvirt.block;

import com.sun.nio.file.ExtendedOpenOption;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The O_DIRECT channel under cache=none: byte-granular I/O gives exactly what the same I/O through
 * the page cache gives, and the file keeps its exact length. Runs where the test directory's file
 * system takes O_DIRECT (ext4 /tmp here); skipped elsewhere.
 */
class DirectFileChannelTest {

    @TempDir
    Path dir;

    @BeforeEach
    void needsDirectIo() throws IOException {
        assumeTrue(DirectIoSupport.accepts(dir), dir + " (" + Files.getFileStore(dir).type() + ") refuses O_DIRECT");
    }

    @Test
    void randomUnalignedReadsAndWritesMatchAPlainFile() throws Exception {
        Path direct = dir.resolve("direct.img");
        Path plain = dir.resolve("plain.img");
        byte[] initial = new byte[3 * 4096 + 123];
        Random random = new Random(7);
        random.nextBytes(initial);
        Files.write(direct, initial);
        Files.write(plain, initial);

        try (FileChannel odirect = ImageFiles.open(direct, false, CacheMode.NONE);
             FileChannel reference = FileChannel.open(plain, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            assertInstanceOf(DirectFileChannel.class, odirect);
            for (int op = 0; op < 3000; op++) {
                long size = reference.size();
                int length = op % 97 == 0 ? DirectFileChannel.BOUNCE_SIZE + random.nextInt(8192) : random.nextInt(10_000);
                long position = random.nextInt(10) == 0 ? size + random.nextInt(9000) : (long) (random.nextDouble() * (size + 1));
                if (random.nextBoolean()) {
                    byte[] data = new byte[length];
                    random.nextBytes(data);
                    assertEquals(length, write(odirect, data, position, op));
                    write(reference, data, position, 0);
                    assertEquals(reference.size(), odirect.size(), "size after write " + op + " at " + position + "+" + length);
                } else {
                    assertArrayEquals(read(reference, position, length, 0), read(odirect, position, length, op),
                            "read " + op + " at " + position + "+" + length);
                }
                if (op % 500 == 0) {
                    assertEquals(Files.size(plain), Files.size(direct), "the file on disk has the logical length");
                }
            }
        }
        assertEquals(Files.size(plain), Files.size(direct));
        assertArrayEquals(Files.readAllBytes(plain), Files.readAllBytes(direct));
    }

    @Test
    void writesPastTheEndKeepTheExactSize() throws Exception {
        Path path = dir.resolve("grow.img");
        Files.write(path, bytes(100, 1));
        try (FileChannel file = ImageFiles.open(path, false, CacheMode.NONE)) {
            file.write(ByteBuffer.wrap(bytes(10, 2)), 5000);
            assertEquals(5010, file.size());
            assertEquals(5010, Files.size(path), "stat sees the logical end, not the block the write went out in");

            file.write(ByteBuffer.wrap(bytes(3, 3)), 8190);
            assertEquals(8193, Files.size(path));

            file.write(ByteBuffer.wrap(bytes(4096, 4)), 12288);
            assertEquals(16384, Files.size(path));

            file.write(ByteBuffer.wrap(bytes(2, 5)), 50);
            assertEquals(16384, Files.size(path), "a write inside the file does not grow it");

            file.truncate(4097);
            assertEquals(4097, file.size());
            assertEquals(4097, Files.size(path));
            file.write(ByteBuffer.wrap(bytes(1, 6)), 4097);
            assertEquals(4098, Files.size(path));

            ByteBuffer tail = ByteBuffer.allocate(100);
            assertEquals(-1, file.read(tail, 4098), "reading at the end is end of file");
            assertEquals(98, file.read(tail, 4000), "a read across the end stops there");
        }
        byte[] expected = new byte[4098];
        System.arraycopy(bytes(100, 1), 0, expected, 0, 100);
        System.arraycopy(bytes(2, 5), 0, expected, 50, 2);
        System.arraycopy(bytes(1, 6), 0, expected, 4097, 1);
        assertArrayEquals(expected, Files.readAllBytes(path), "holes read as zeroes, old bytes around the writes kept");
    }

    @Test
    void cacheNoneOpensWithODirectAndDirectsyncAlsoWithODsync() throws Exception {
        Path path = dir.resolve("flags.img");
        Files.write(path, new byte[4096]);
        try (FileChannel none = ImageFiles.open(path, false, CacheMode.NONE)) {
            int flags = OpenFlags.of(path);
            assertTrue((flags & OpenFlags.O_DIRECT) != 0, "O_DIRECT set: " + Integer.toOctalString(flags));
            assertEquals(0, flags & OpenFlags.O_DSYNC, "cache=none leaves durability to flushes");
        }
        try (FileChannel directsync = ImageFiles.open(path, false, CacheMode.DIRECTSYNC)) {
            int flags = OpenFlags.of(path);
            assertTrue((flags & OpenFlags.O_DIRECT) != 0, "O_DIRECT set: " + Integer.toOctalString(flags));
            assertTrue((flags & OpenFlags.O_DSYNC) != 0, "O_DSYNC set: " + Integer.toOctalString(flags));
        }
        try (FileChannel writeback = ImageFiles.open(path, false, CacheMode.WRITEBACK)) {
            assertEquals(0, OpenFlags.of(path) & OpenFlags.O_DIRECT, "writeback goes through the page cache");
        }
    }

    @Test
    void directCallerBuffersAndRelativeIoWork() throws Exception {
        Path path = dir.resolve("buffers.img");
        Files.write(path, new byte[0]);
        try (FileChannel file = ImageFiles.open(path, false, CacheMode.NONE)) {
            int alignment = ((DirectFileChannel) file).alignment();
            ByteBuffer aligned = ByteBuffer.allocateDirect(3 * alignment).alignedSlice(alignment).limit(2 * alignment);
            aligned.put(0, bytes(2 * alignment, 9));
            assertEquals(2 * alignment, file.write(aligned, 0));
            ByteBuffer misaligned = ByteBuffer.allocateDirect(1000).position(3);
            misaligned.put(3, bytes(997, 10));
            assertEquals(997, file.write(misaligned, 77));

            file.position(70);
            ByteBuffer back = ByteBuffer.allocate(20);
            assertEquals(20, file.read(back));
            assertEquals(90, file.position());
            byte[] expected = bytes(2 * alignment, 9);
            System.arraycopy(bytes(997, 10), 0, expected, 77, 997);
            assertArrayEquals(Arrays.copyOfRange(expected, 70, 90), back.array());
        }
        byte[] expected = bytes(2 * 4096, 9);
        System.arraycopy(bytes(997, 10), 0, expected, 77, 997);
        assertArrayEquals(Arrays.copyOf(expected, (int) Files.size(path)), Files.readAllBytes(path));
    }

    @Test
    void concurrentWritesSharingBlocksLoseNothing() throws Exception {
        // Threads own interleaved 100-byte stripes, so every block is shared by several of them:
        // an unlocked read-modify-write would put a neighbour's old bytes back.
        Path path = dir.resolve("stripes.img");
        Files.write(path, new byte[64 * 1024]);
        int threads = 6;
        int stripe = 100;
        int rounds = 4;
        int stripes = 64 * 1024 / stripe;
        try (FileChannel file = ImageFiles.open(path, false, CacheMode.NONE)) {
            List<Thread> workers = new ArrayList<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            for (int t = 0; t < threads; t++) {
                int owner = t;
                workers.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int round = 0; round < rounds; round++) {
                            byte[] data = new byte[stripe];
                            Arrays.fill(data, (byte) (owner * 16 + round + 1));
                            for (int i = owner; i < stripes; i += threads) {
                                file.write(ByteBuffer.wrap(data), (long) i * stripe);
                            }
                        }
                    } catch (Throwable e) {
                        failure.set(e);
                    }
                }));
            }
            for (Thread worker : workers) {
                worker.join();
            }
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
        }
        byte[] content = Files.readAllBytes(path);
        for (int i = 0; i < stripes; i++) {
            byte expected = (byte) ((i % threads) * 16 + rounds);
            for (int b = 0; b < stripe; b++) {
                assertEquals(expected, content[i * stripe + b], "stripe " + i + " byte " + b);
            }
        }
    }

    /** Writes with the buffer kind varying by {@code op}: heap, direct at an aligned address, or direct misaligned. */
    private static int write(FileChannel file, byte[] data, long position, int op) throws IOException {
        ByteBuffer buffer = buffer(data.length, op);
        buffer.put(buffer.position(), data);
        int done = 0;
        while (buffer.hasRemaining()) {
            done += file.write(buffer, position + done);
        }
        return done;
    }

    private static byte[] read(FileChannel file, long position, int length, int op) throws IOException {
        ByteBuffer buffer = buffer(length, op);
        int start = buffer.position();
        while (buffer.hasRemaining()) {
            if (file.read(buffer, position + buffer.position() - start) < 0) {
                break;
            }
        }
        byte[] out = new byte[buffer.position() - start];
        buffer.get(start, out);
        return out;
    }

    private static ByteBuffer buffer(int length, int op) {
        return switch (op % 3) {
            case 0 -> ByteBuffer.allocate(length);
            case 1 -> ByteBuffer.allocateDirect(length + 8192).alignedSlice(4096).limit(length);
            default -> ByteBuffer.allocateDirect(length + 5).position(5).slice();
        };
    }

    static byte[] bytes(int length, int seed) {
        byte[] data = new byte[length];
        new Random(seed).nextBytes(data);
        return data;
    }

    /** Whether a file in {@code dir} can be opened with O_DIRECT. */
    static final class DirectIoSupport {
        static boolean accepts(Path dir) throws IOException {
            Path probe = Files.createTempFile(dir, "odirect", ".probe");
            try (FileChannel ignored = FileChannel.open(probe, StandardOpenOption.READ, ExtendedOpenOption.DIRECT)) {
                return true;
            } catch (IOException e) {
                return false;
            } finally {
                Files.delete(probe);
            }
        }
    }

    /** The open(2) flags of this process's descriptor for a path, from /proc/self/fdinfo. */
    static final class OpenFlags {
        static final int O_DSYNC = 010000;
        static final int O_DIRECT = 040000;

        static int of(Path path) throws IOException {
            Path target = path.toRealPath();
            try (var fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : fds.toList()) {
                    try {
                        if (Files.readSymbolicLink(fd).equals(target)) {
                            for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo", fd.getFileName().toString()))) {
                                if (line.startsWith("flags:")) {
                                    return Integer.parseInt(line.substring(6).trim(), 8);
                                }
                            }
                        }
                    } catch (IOException gone) {
                        // the listing's own descriptor, closed by now
                    }
                }
            }
            throw new AssertionError("no open descriptor for " + target);
        }
    }
}
