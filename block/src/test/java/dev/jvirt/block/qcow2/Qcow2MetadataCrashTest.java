package dev.jvirt.block.qcow2;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Stops each whole-image metadata operation (resize both ways, emptying, a new backing file,
 * internal snapshots) after every possible number of writes, and has the real qemu-img check the
 * result: leaks are allowed (snapshot operations may not even leak), corruption is not, and the
 * data the guest had stays readable.
 */
class Qcow2MetadataCrashTest {

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")) && Files.isExecutable(Path.of("/usr/bin/qemu-io")),
                "qemu-utils not installed; scripts/setup installs it");
    }

    @AfterEach
    void restoreOpener() {
        Qcow2File.opener = path -> FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    interface Operation {
        void run(Path image) throws IOException;
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int status = process.waitFor();
        return status + ":" + output;
    }

    private Path image(String size, String options, String... qemuIo) throws Exception {
        Path image = dir.resolve("original.qcow2");
        assertTrue(run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, image.toString(), size).startsWith("0:"));
        List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        for (String c : qemuIo) {
            command.add("-c");
            command.add(c);
        }
        command.add(image.toString());
        assertTrue(run(command.toArray(String[]::new)).startsWith("0:"));
        return image;
    }

    /**
     * Counts the operation's writes, then replays it on fresh copies stopping after 0, 1, ... of
     * them; after each stop the image must check clean or leaky and {@code stillReads} must pass.
     */
    private int crashEverywhere(Path original, Operation operation, String... stillReads) throws Exception {
        return crashEverywhere(original, operation, true, stillReads);
    }

    private int crashEverywhere(Path original, Operation operation, boolean leaksAllowed, String... stillReads) throws Exception {
        Path copy = dir.resolve("counting.qcow2");
        Files.copy(original, copy, StandardCopyOption.REPLACE_EXISTING);
        List<CrashingChannel> counters = new ArrayList<>();
        Qcow2File.opener = path -> {
            CrashingChannel channel = new CrashingChannel(FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE),
                    Long.MAX_VALUE);
            counters.add(channel);
            return channel;
        };
        operation.run(copy);
        long total = counters.stream().mapToLong(CrashingChannel::writes).sum();
        assertTrue(total > 0);
        for (long crashAt = 0; crashAt < total; crashAt++) {
            Path crashed = dir.resolve("crashed.qcow2");
            Files.copy(original, crashed, StandardCopyOption.REPLACE_EXISTING);
            long[] budget = {crashAt};
            Qcow2File.opener = path -> {
                CrashingChannel channel = new CrashingChannel(FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE),
                        budget[0]);
                budget[0] = 0; // a later open happens only if the first part finished; it gets no writes past the crash
                return channel;
            };
            try {
                operation.run(crashed);
            } catch (IOException expected) {
                // the simulated crash
            }
            String check = run("qemu-img", "check", crashed.toString());
            assertTrue(check.startsWith("0:") || (leaksAllowed && check.startsWith("3:")), "crash after write " + crashAt + " of " + total + ": " + check);
            if (stillReads.length == 0) {
                continue; // qemu-io without commands would wait for them on stdin
            }
            List<String> read = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
            for (String c : stillReads) {
                read.add("-c");
                read.add(c);
            }
            read.add(crashed.toString());
            String result = run(read.toArray(String[]::new));
            assertTrue(result.startsWith("0:") && !result.contains("Pattern verification failed"),
                    "crash after write " + crashAt + ": " + result);
        }
        return (int) total;
    }

    @Test
    void growingTheL1AndRefcountTables() throws Exception {
        Path original = image("1M", "cluster_size=512", "write -P 1 0 256k", "write -P 2 768k 256k");
        int writes = crashEverywhere(original, image -> Qcow2Resizer.resize(image, 64L << 20), "read -P 1 0 256k", "read -P 2 768k 256k");
        assertTrue(writes > 4, "the grow took " + writes + " writes");
    }

    @Test
    void shrinking() throws Exception {
        Path original = image("64M", "cluster_size=65536", "write -P 1 0 1M", "write -P 2 20M 2M", "write -P 3 40M 128k");
        crashEverywhere(original, image -> Qcow2Resizer.resize(image, 21L << 20), "read -P 1 0 1M", "read -P 2 20M 1M");
    }

    @Test
    void emptyingAnOverlay() throws Exception {
        Path original = image("8M", "cluster_size=4096", "write -P 1 0 128k", "write -z 2M 64k", "write -P 3 5M 64k");
        int writes = crashEverywhere(original, Qcow2Emptier::makeEmpty);
        assertTrue(writes > 2, "emptying took " + writes + " writes");
    }

    @Test
    void changingTheBackingFile() throws Exception {
        Path original = image("8M", "cluster_size=65536", "write -P 1 0 1M");
        crashEverywhere(original, image -> Qcow2BackingChanger.change(image, null, null), "read -P 1 0 1M");
        Path base = dir.resolve("base.qcow2");
        assertEquals("0:", run("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "8M"));
        crashEverywhere(original, image -> Qcow2BackingChanger.change(image, base.toString(), "qcow2"), "read -P 1 0 1M");
    }

    @Test
    void creatingASnapshotNeitherCorruptsNorLeaks() throws Exception {
        Path original = image("64M", "cluster_size=65536", "write -P 1 0 1M", "write -c -P 2 4M 64k", "write -z 8M 64k");
        int writes = crashEverywhere(original, image -> Qcow2Snapshots.create(image, "s", Instant.EPOCH), false,
                "read -P 1 0 1M", "read -P 2 4M 64k");
        assertTrue(writes >= 5, "creating took " + writes + " writes");
    }

    @Test
    void applyingASnapshotNeitherCorruptsNorLeaks() throws Exception {
        Path original = image("8M", "cluster_size=4096", "write -P 1 0 256k");
        assertTrue(run("qemu-img", "snapshot", "-c", "s", original.toString()).startsWith("0:"));
        assertTrue(run("qemu-io", "-f", "qcow2", "-c", "write -P 2 128k 256k", "-c", "write -P 3 6M 64k", original.toString()).startsWith("0:"));
        crashEverywhere(original, image -> Qcow2Snapshots.apply(image, "s"), false, "read -P 1 0 128k");
    }

    @Test
    void deletingASnapshotNeitherCorruptsNorLeaks() throws Exception {
        Path original = image("8M", "cluster_size=4096", "write -P 1 0 256k");
        assertTrue(run("qemu-img", "snapshot", "-c", "s", original.toString()).startsWith("0:"));
        assertTrue(run("qemu-io", "-f", "qcow2", "-c", "write -P 2 128k 256k", original.toString()).startsWith("0:"));
        assertTrue(run("qemu-img", "snapshot", "-c", "t", original.toString()).startsWith("0:"));
        crashEverywhere(original, image -> Qcow2Snapshots.delete(image, "s"), false, "read -P 1 0 128k", "read -P 2 128k 256k");
    }

    @Test
    void emptyingAnImageWithSnapshotsDropsTheSharedClustersReferencesToo() throws Exception {
        // The second L2 table (from 2M) stays shared with the snapshot; the first is copied by the write.
        Path original = image("8M", "cluster_size=4096", "write -P 1 0 256k", "write -P 3 4M 64k");
        assertTrue(run("qemu-img", "snapshot", "-c", "s", original.toString()).startsWith("0:"));
        assertTrue(run("qemu-io", "-f", "qcow2", "-c", "write -P 2 128k 64k", original.toString()).startsWith("0:"));
        Path emptied = dir.resolve("emptied.qcow2");
        Files.copy(original, emptied);
        Qcow2Emptier.makeEmpty(emptied);
        assertEquals("0:", run("qemu-img", "check", "-q", emptied.toString()));
        assertTrue(run("qemu-img", "snapshot", "-a", "s", emptied.toString()).startsWith("0:"));
        String read = run("qemu-io", "-f", "qcow2", "-c", "read -P 1 0 256k", "-c", "read -P 3 4M 64k", emptied.toString());
        assertTrue(read.startsWith("0:") && !read.contains("Pattern verification failed"), read);
        crashEverywhere(original, Qcow2Emptier::makeEmpty);
    }
}
