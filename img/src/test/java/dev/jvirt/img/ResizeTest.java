package dev.jvirt.img;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.jvirtOk;
import static dev.jvirt.img.QemuImg.qemu;
import static dev.jvirt.img.QemuImg.qemuIo;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** jvirt-img resize against qemu-img resize on the same images: same sizes, same content, clean checks. */
class ResizeTest {

    @TempDir
    Path dir;
    private final ObjectMapper json = new ObjectMapper();
    private int runs;

    @BeforeEach
    void needQemu() {
        assumeTrue(QemuImg.available(), "qemu-utils not installed; scripts/setup installs it");
    }

    private Path qcow2(String name, String size, String... createOptions) throws Exception {
        Path image = dir.resolve(name);
        java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of("qemu-img", "create", "-q", "-f", "qcow2"));
        command.addAll(java.util.List.of(createOptions));
        command.add(image.toString());
        command.add(size);
        qemuOk(command.toArray(String[]::new));
        return image;
    }

    private long virtualSize(Path image) throws Exception {
        return json.readTree(qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout()).get("virtual-size").asLong();
    }

    private void assertClean(Path image) throws Exception {
        QemuImg.Result check = qemu("qemu-img", "check", image.toString());
        assertEquals(0, check.status(), image.getFileName() + ": " + check.stdout() + check.stderr());
    }

    /** Same guest-visible content; for qcow2 also the same allocation (strict mode). */
    private void assertSameContent(Path a, Path b, boolean strict) throws Exception {
        QemuImg.Result compare = strict ? qemu("qemu-img", "compare", "-s", a.toString(), b.toString())
                : qemu("qemu-img", "compare", a.toString(), b.toString());
        assertEquals(0, compare.status(), compare.stdout() + compare.stderr());
    }

    /** Resizes a copy with each tool and checks both agree. Returns jvirt's copy. */
    private Path resizeBoth(Path image, String... args) throws Exception {
        int run = ++runs;
        Path theirs = dir.resolve("theirs-" + run + "-" + image.getFileName());
        Path ours = dir.resolve("ours-" + run + "-" + image.getFileName());
        Files.copy(image, theirs);
        Files.copy(image, ours);
        String[] qemuArgs = new String[args.length + 2];
        qemuArgs[0] = "qemu-img";
        qemuArgs[1] = "resize";
        String[] jvirtArgs = new String[args.length + 1];
        jvirtArgs[0] = "resize";
        for (int i = 0; i < args.length; i++) {
            String arg = args[i].equals("IMAGE") ? null : args[i];
            qemuArgs[i + 2] = arg == null ? theirs.toString() : arg;
            jvirtArgs[i + 1] = arg == null ? ours.toString() : arg;
        }
        QemuImg.Result q = qemu(qemuArgs);
        QemuImg.Result j = jvirt(jvirtArgs);
        assertEquals(q.status(), j.status(), "exit code; qemu said " + q.stderr() + ", we said " + j.stderr());
        assertEquals(q.stdout(), j.stdout());
        if (j.status() == 0) {
            assertEquals(virtualSize(theirs), virtualSize(ours));
            boolean qcow2 = json.readTree(qemuOk("qemu-img", "info", "--output=json", ours.toString()).stdout())
                    .get("format").asText().equals("qcow2");
            if (qcow2) {
                assertClean(ours);
            }
            assertSameContent(theirs, ours, qcow2);
        }
        return ours;
    }

    @Test
    void qcow2GrowsWithinItsL1TableAndKeepsItsData() throws Exception {
        Path image = qcow2("grow.qcow2", "64M");
        qemuIo(image, "qcow2", "write -P 1 0 1M", "write -P 2 63M 1M");
        Path ours = resizeBoth(image, "IMAGE", "+1G");
        assertEquals((64L << 20) + (1L << 30), virtualSize(ours));
        qemuIo(ours, "qcow2", "write -P 3 1G 2M");
        assertClean(ours);
        resizeBoth(image, "IMAGE", "3G");
    }

    @ParameterizedTest(name = "cluster_size={0}")
    @ValueSource(ints = {512, 4096})
    void qcow2GrowsItsL1AndRefcountTablesAndStaysWritable(int clusterSize) throws Exception {
        Path image = qcow2("small-" + clusterSize + ".qcow2", "1M", "-o", "cluster_size=" + clusterSize);
        qemuIo(image, "qcow2", "write -P 1 0 256k", "write -P 2 768k 256k");
        Path ours = resizeBoth(image, "IMAGE", clusterSize == 512 ? "64M" : "4G");
        // Fill far past what the old tables could describe, with QEMU and with our own writer.
        qemuIo(ours, "qcow2", "write -P 4 1M 16M", "write -P 5 40M 4M");
        assertClean(ours);
        try (var written = dev.jvirt.block.Images.open(ours, dev.jvirt.block.OpenOptions.forWriting())) {
            byte[] data = new byte[8 << 20];
            java.util.Arrays.fill(data, (byte) 6);
            written.write(20L << 20, data, 0, data.length);
            written.write(50L << 20, data, 0, data.length);
        }
        assertClean(ours);
        qemuIo(ours, "qcow2", "read -P 1 0 256k", "read -P 0 256k 512k", "read -P 2 768k 256k", "read -P 4 1M 16M",
                "read -P 6 20M 8M", "read -P 5 40M 4M", "read -P 6 50M 8M");
    }

    @Test
    void qcow2ShrinksOnlyWithShrinkAndDropsTheTail() throws Exception {
        Path image = qcow2("shrink.qcow2", "64M");
        qemuIo(image, "qcow2", "write -P 1 0 1M", "write -P 2 20M 3M", "write -P 3 40M 1M", "write -z 10M 1M");
        Path ours = resizeBoth(image, "IMAGE", "32M");
        assertEquals(64L << 20, virtualSize(ours), "no --shrink: unchanged");
        QemuImg.Result refused = jvirt("resize", ours.toString(), "32M");
        assertEquals(1, refused.status());
        assertTrue(refused.stderr().contains("Use the --shrink option"), refused.stderr());

        long before = Files.size(image);
        ours = resizeBoth(image, "--shrink", "IMAGE", "21M");
        assertEquals(21L << 20, virtualSize(ours));
        assertTrue(Files.size(ours) < before, "the freed clusters are cut off the file");
        // Growing again shows zeroes where the old data was, as with QEMU.
        jvirtOk("resize", "-q", ours.toString(), "64M");
        qemuIo(ours, "qcow2", "read -P 0 21M 43M", "read -P 2 20M 1M");
        assertClean(ours);
        resizeBoth(image, "--shrink", "IMAGE", "--", "-1M");
        resizeBoth(image, "--shrink", "IMAGE", "512");
    }

    @Test
    void rawFilesGrowAndShrinkLikeQemu() throws Exception {
        Path raw = dir.resolve("disk.raw");
        byte[] data = new byte[3000];
        java.util.Arrays.fill(data, (byte) 7);
        Files.write(raw, data);
        for (String[] args : new String[][] {{"-f", "raw", "IMAGE", "+1000"}, {"-f", "raw", "IMAGE", "1.5k"}, {"IMAGE", "1G"},
                {"-f", "raw", "--shrink", "IMAGE", "1"}, {"-f", "raw", "IMAGE", "--", "-1000"}, {"-f", "raw", "IMAGE", "+0"}}) {
            Path ours = resizeBoth(raw, args);
            Path theirs = dir.resolve(ours.getFileName().toString().replace("ours-", "theirs-"));
            assertEquals(Files.size(theirs), Files.size(ours), String.join(" ", args));
        }
    }

    @Test
    void anOverlayGrownOverALongerBackingFileShowsZeroes() throws Exception {
        Path base = qcow2("base.qcow2", "64M");
        qemuIo(base, "qcow2", "write -P 9 0 64M");
        Path overlay = qcow2("overlay.qcow2", "32M", "-b", base.toString(), "-F", "qcow2");
        Path ours = resizeBoth(overlay, "IMAGE", "64M");
        qemuIo(ours, "qcow2", "read -P 9 0 32M", "read -P 0 32M 32M");
    }

    @Test
    void errorsAreOneLineAndExitOneLikeQemu() throws Exception {
        Path image = qcow2("err.qcow2", "64M");
        for (String[] args : new String[][] {{"IMAGE", "+1000"}, {"--shrink", "IMAGE", "--", "-1000"}, {"IMAGE", "0"},
                {"IMAGE", "1Q"}, {"IMAGE", "8E"}, {"--shrink", "IMAGE", "--", "-1G"}, {"IMAGE"}, {"-f", "qcow2", "nope.qcow2", "1G"}}) {
            resizeBoth(image, args);
        }
        Path raw = dir.resolve("plain.raw");
        Files.write(raw, new byte[4096]);
        QemuImg.Result wrongFormat = jvirt("resize", "-f", "qcow2", raw.toString(), "1M");
        assertEquals(qemu("qemu-img", "resize", "-f", "qcow2", raw.toString(), "1M").status(), wrongFormat.status());
        assertEquals(1, wrongFormat.stderr().lines().count(), wrongFormat.stderr());
        assertArrayEquals(new byte[4096], Files.readAllBytes(raw));
    }
}
