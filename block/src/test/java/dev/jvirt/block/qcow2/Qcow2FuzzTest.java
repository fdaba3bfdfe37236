package dev.jvirt.block.qcow2;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded mutation fuzzing of qcow2 metadata: small valid images (v2 and v3, two cluster sizes,
 * data, zero and compressed clusters, a snapshot, a backing format extension) get one to three
 * mutations aimed at the header fields, header extensions, L1 and L2 entries, the refcount table
 * and blocks, the snapshot table and compressed data. Each mutant is opened read-only, read, its
 * snapshots listed and read, and checked. The only acceptable failures are ImageException or
 * IOException with a message; any other exception, an Error (OOM included), a case running past
 * its time limit, or a change to the file's bytes fails the test with the seed and case to replay.
 */
class Qcow2FuzzTest {

    private static final long[] SEEDS = {1, 2, 3, 5, 8, 13, 21, 34};
    private static final int CASES_PER_SEED_AND_IMAGE = 80;
    private static final long CASE_TIMEOUT_SECONDS = 5;
    private static final long[] INTERESTING = {0, 1, -1, 0x7F, 0x80, 0xFF, 0x200, 0x1FF, 0x1000, 0xFFFF, 0x10000, 0x7FFF_FFFFL,
            0x8000_0000L, 0xFFFF_FFFFL, 1L << 32, 1L << 40, 1L << 56, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 62, 3L << 62,
            0x00FF_FFFF_FFFF_FE00L, 0x8000_0000_0001_0000L};

    private static ExecutorService runner;
    private static volatile Thread runnerThread;

    @TempDir
    static Path dir;
    private static final List<Base> BASES = new ArrayList<>();

    /** A valid image and where its metadata lies, so mutations can aim at it. */
    private record Base(String label, byte[] bytes, List<int[]> regions) { }

    @BeforeAll
    static void makeBases() throws IOException {
        runner = newRunner();
        BASES.add(base("v3-4k", 4096, true, false, true));
        BASES.add(base("v2-512", 512, false, false, false));
        BASES.add(base("v3-512-zstd", 512, true, true, false));
        BASES.add(base("v3-64k-snapshot", 65536, true, false, true));
    }

    private static ExecutorService newRunner() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "qcow2-fuzz");
            t.setDaemon(true);
            runnerThread = t;
            return t;
        });
    }

    @AfterAll
    static void stopRunner() {
        runner.shutdownNow();
    }

    private static Base base(String label, int clusterSize, boolean v3, boolean zstd, boolean snapshot) throws IOException {
        Path path = dir.resolve("base-" + label + ".qcow2");
        Qcow2Creator.create(path, new Qcow2Creator.Options(1 << 20, clusterSize, v3, false, null, null, zstd));
        try (BlockDriver opened = Images.open(path, OpenOptions.forWriting())) {
            Qcow2Image image = (Qcow2Image) opened;
            byte[] data = new byte[40_000];
            new Random(clusterSize).nextBytes(data);
            image.write(3000, data, 0, data.length);
            byte[] text = new byte[clusterSize];
            for (int i = 0; i < text.length; i++) {
                text[i] = (byte) ('a' + (i * 7 % 13));
            }
            image.writeCompressed(0x40000, text, 0, text.length);
            image.writeCompressed(0x40000 + clusterSize, text, 0, text.length);
            if (v3) {
                image.writeZeroes(0x80000, clusterSize * 2L);
            }
        }
        if (snapshot) {
            Qcow2Snapshots.create(path, "fuzz", Instant.ofEpochSecond(1_700_000_000));
            try (BlockDriver opened = Images.open(path, OpenOptions.forWriting())) {
                opened.write(5000, new byte[100], 0, 100);
            }
        }
        byte[] bytes = Files.readAllBytes(path);
        return new Base(label, bytes, metadataRegions(path, bytes));
    }

    /** [offset, length] of each metadata structure: header, extensions, L1, L2s, refcount table and blocks, snapshots. */
    private static List<int[]> metadataRegions(Path path, byte[] bytes) throws IOException {
        Qcow2Header h = Qcow2Image.readHeader(path);
        int cluster = h.clusterSize();
        List<int[]> regions = new ArrayList<>();
        regions.add(new int[] {0, h.version == 2 ? Qcow2Header.V2_HEADER_LENGTH : h.headerLength});
        regions.add(new int[] {h.version == 2 ? Qcow2Header.V2_HEADER_LENGTH : h.headerLength, 64}); // extensions, backing name
        regions.add(new int[] {(int) h.l1TableOffset, h.l1Size * 8});
        ByteBuffer b = ByteBuffer.wrap(bytes);
        for (int i = 0; i < h.l1Size; i++) {
            long l2 = b.getLong((int) h.l1TableOffset + 8 * i) & Qcow2Image.OFFSET_MASK;
            if (l2 != 0 && l2 + cluster <= bytes.length) {
                regions.add(new int[] {(int) l2, cluster});
            }
        }
        regions.add(new int[] {(int) h.refcountTableOffset, Math.min(cluster, 64)});
        long block = b.getLong((int) h.refcountTableOffset);
        if (block != 0 && block + cluster <= bytes.length) {
            regions.add(new int[] {(int) block, Math.min(cluster, 256)});
        }
        if (h.snapshotCount > 0) {
            regions.add(new int[] {(int) h.snapshotsOffset, 64});
        }
        return regions;
    }

    @Test
    void mutatedImagesFailOnlyWithAMessage() throws Exception {
        List<String> failures = new ArrayList<>();
        int cases = 0;
        long started = System.nanoTime();
        for (long seed : SEEDS) {
            for (Base base : BASES) {
                Random random = new Random(seed * 31 + base.label().hashCode());
                for (int c = 0; c < CASES_PER_SEED_AND_IMAGE; c++) {
                    byte[] mutant = mutate(base, random);
                    String failure = runCase(mutant, base.label() + " seed " + seed + " case " + c);
                    cases++;
                    if (failure != null) {
                        failures.add(failure);
                        if (failures.size() >= 10) {
                            fail(String.join("\n", failures));
                        }
                    }
                }
            }
        }
        if (!failures.isEmpty()) {
            fail(failures.size() + " of " + cases + " cases failed:\n" + String.join("\n", failures));
        }
        assertTrue(cases >= 2000);
        System.out.printf("qcow2 fuzz: %d cases in %d ms%n", cases, (System.nanoTime() - started) / 1_000_000);
    }

    private static byte[] mutate(Base base, Random random) {
        byte[] copy = base.bytes().clone();
        ByteBuffer b = ByteBuffer.wrap(copy);
        int mutations = 1 + random.nextInt(3);
        for (int m = 0; m < mutations; m++) {
            int[] region = random.nextInt(10) == 0
                    ? new int[] {0, copy.length}
                    : base.regions().get(random.nextInt(base.regions().size()));
            int length = Math.max(1, Math.min(region[1], copy.length - region[0]));
            int at = region[0] + random.nextInt(length);
            switch (random.nextInt(5)) {
                case 0 -> copy[at] ^= (byte) (1 << random.nextInt(8));
                case 1 -> copy[at] = (byte) random.nextInt();
                case 2 -> { // an interesting 64-bit value on an entry boundary
                    int aligned = at & ~7;
                    if (aligned + 8 <= copy.length) {
                        b.putLong(aligned, INTERESTING[random.nextInt(INTERESTING.length)]);
                    }
                }
                case 3 -> { // an interesting 32-bit value on a field boundary
                    int aligned = at & ~3;
                    if (aligned + 4 <= copy.length) {
                        b.putInt(aligned, (int) INTERESTING[random.nextInt(INTERESTING.length)]);
                    }
                }
                default -> { // point an entry at another structure (or itself), keeping its flags
                    int aligned = at & ~7;
                    int[] target = base.regions().get(random.nextInt(base.regions().size()));
                    if (aligned + 8 <= copy.length) {
                        long flags = b.getLong(aligned) & ~Qcow2Image.OFFSET_MASK;
                        b.putLong(aligned, flags | ((long) target[0] + (random.nextBoolean() ? 0 : 512)));
                    }
                }
            }
        }
        return copy;
    }

    /** Null when the mutant was read or refused properly, else what went wrong. */
    private static String runCase(byte[] mutant, String label) throws IOException, InterruptedException {
        Path file = dir.resolve("mutant.qcow2");
        Files.write(file, mutant);
        Future<?> result = runner.submit(() -> {
            exercise(file);
            return null;
        });
        String failure = null;
        try {
            result.get(CASE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            StringBuilder where = new StringBuilder();
            for (StackTraceElement frame : runnerThread.getStackTrace()) {
                where.append("\n    at ").append(frame);
                if (where.length() > 1500) {
                    break;
                }
            }
            result.cancel(true);
            runner.shutdownNow();
            runner = newRunner(); // the stuck thread is a daemon and is left behind
            failure = label + ": still running after " + CASE_TIMEOUT_SECONDS + " s" + where;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            // ImageException names the bad structure; a plain IOException (an EOF on a table that
            // lies past the end, a backing file that is not there) is as good if it says what.
            boolean allowed = cause instanceof IOException && cause.getMessage() != null && !cause.getMessage().isBlank();
            if (!allowed) {
                java.io.StringWriter trace = new java.io.StringWriter();
                cause.printStackTrace(new java.io.PrintWriter(trace));
                failure = label + ": " + trace.toString().lines().limit(6).reduce((x, y) -> x + "\n  " + y).orElse("");
            }
        }
        if (!Arrays.equals(mutant, Files.readAllBytes(file))) {
            failure = label + ": the file was modified";
        }
        return failure;
    }

    private static void exercise(Path file) throws IOException {
        try (BlockDriver opened = Images.open(file, OpenOptions.forReading().withFormat("qcow2"))) {
            readAll(opened);
            Qcow2Image image = (Qcow2Image) opened;
            for (Qcow2Snapshot snapshot : image.snapshots()) {
                try (Qcow2Image view = image.snapshotView(snapshot)) {
                    readAll(view);
                }
            }
            new Qcow2Checker(image).check(false, false);
        }
    }

    /** The whole disk when small; for a mutated huge size, its first and last megabytes and its allocation map. */
    private static void readAll(BlockDriver image) throws IOException {
        long size = image.size();
        byte[] buffer = new byte[1 << 20];
        if (size <= (8 << 20)) {
            for (long at = 0; at < size; at += buffer.length) {
                image.read(at, buffer, 0, (int) Math.min(buffer.length, size - at));
            }
        } else {
            image.read(0, buffer, 0, buffer.length);
            image.read(size - buffer.length, buffer, 0, buffer.length);
        }
        long at = 0;
        for (int extents = 0; at < size && extents < 10_000; extents++) {
            at += image.blockStatus(at, size - at).length();
        }
    }
}
