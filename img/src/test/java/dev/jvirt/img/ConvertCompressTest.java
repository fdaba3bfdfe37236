package dev.jvirt.img;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.jvirtOk;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** convert -c and convert -B, judged by the real qemu-img: check, compare, map and info. */
class ConvertCompressTest {

    private static final int DISK = 6 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private Path source;
    private byte[] sourceBytes;

    @BeforeEach
    void makeSource() throws Exception {
        assumeTrue(QemuImg.available(), "qemu-img/qemu-io (qemu-utils) not installed");
        sourceBytes = new byte[DISK + 12288]; // a short last cluster too
        Random random = new Random(7);
        for (int at = 0; at < sourceBytes.length; at += 64 << 10) {
            int kind = random.nextInt(5);
            int length = Math.min(64 << 10, sourceBytes.length - at);
            switch (kind) {
                case 0 -> { } // a hole
                case 1 -> { // incompressible
                    for (int i = 0; i < length; i++) {
                        sourceBytes[at + i] = (byte) random.nextInt();
                    }
                }
                case 2 -> { // text-like, with repeats further back than QEMU's 4 KiB window
                    byte[] block = new byte[10000];
                    for (int i = 0; i < block.length; i++) {
                        block[i] = (byte) ('a' + random.nextInt(26));
                    }
                    for (int i = 0; i < length; i++) {
                        sourceBytes[at + i] = block[i % block.length];
                    }
                }
                default -> { // runs
                    for (int i = 0; i < length; i++) {
                        sourceBytes[at + i] = (byte) (i / 700 + kind);
                    }
                }
            }
        }
        source = dir.resolve("source.raw");
        Files.write(source, sourceBytes);
    }

    private static int compressedExtents(Path image) throws Exception {
        JsonNode map = JSON.readTree(qemuOk("qemu-img", "map", "--output=json", image.toString()).stdout());
        int compressed = 0;
        for (JsonNode extent : map) {
            // qemu-img map gives compressed data no "offset": it has no one host place.
            if (extent.get("data").asBoolean() && !extent.has("offset")) {
                compressed++;
            }
        }
        return compressed;
    }

    private void assertClean(Path image) throws Exception {
        qemuOk("qemu-img", "check", image.toString());
        qemuOk("qemu-img", "compare", "-f", "raw", "-F", "qcow2", source.toString(), image.toString());
    }

    @ParameterizedTest(name = "cluster_size={0}")
    @ValueSource(ints = {512, 4096, 65536, 2 << 20})
    void compressedOutputIsCleanEqualAndSmaller(int clusterSize) throws Exception {
        Path compressed = dir.resolve("c.qcow2");
        jvirtOk("convert", "-c", "-O", "qcow2", "-o", "cluster_size=" + clusterSize, source.toString(), compressed.toString());
        assertClean(compressed);
        assertTrue(compressedExtents(compressed) > 0, "qemu-img map shows compressed clusters");
        Path plain = dir.resolve("p.qcow2");
        jvirtOk("convert", "-O", "qcow2", "-o", "cluster_size=" + clusterSize, source.toString(), plain.toString());
        assertTrue(Files.size(compressed) < Files.size(plain) * 3 / 4, Files.size(compressed) + " vs " + Files.size(plain));
        Path back = dir.resolve("back.raw");
        jvirtOk("convert", "-O", "raw", compressed.toString(), back.toString());
        assertArrayEquals(sourceBytes, Files.readAllBytes(back));
        JsonNode check = JSON.readTree(qemuOk("qemu-img", "check", "--output=json", compressed.toString()).stdout());
        assertTrue(check.get("compressed-clusters").asLong() > 0);
    }

    @Test
    void compressedImageOfACompressedImageAndV2AreClean() throws Exception {
        Path first = dir.resolve("q.qcow2");
        qemuOk("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compat=0.10", source.toString(), first.toString());
        Path second = dir.resolve("j.qcow2");
        jvirtOk("convert", "-c", "-O", "qcow2", "-o", "compat=0.10", first.toString(), second.toString());
        assertClean(second);
        assertEquals(compressedExtents(first) > 0, compressedExtents(second) > 0);
    }

    @Test
    void incompressibleClustersAreWrittenPlain() throws Exception {
        byte[] random = new byte[1 << 20];
        new Random(1).nextBytes(random);
        Path noise = dir.resolve("noise.raw");
        Files.write(noise, random);
        Path image = dir.resolve("n.qcow2");
        jvirtOk("convert", "-c", "-O", "qcow2", noise.toString(), image.toString());
        qemuOk("qemu-img", "check", image.toString());
        qemuOk("qemu-img", "compare", "-f", "raw", "-F", "qcow2", noise.toString(), image.toString());
        assertEquals(0, compressedExtents(image));
    }

    @Test
    void compressionNeedsQcow2() {
        QemuImg.Result result = jvirt("convert", "-c", "-O", "raw", source.toString(), dir.resolve("x.raw").toString());
        assertNotEquals(0, result.status());
        assertTrue(result.stderr().contains("Compression not supported for this file format"), result.stderr());
    }

    @Test
    void backingOutputHoldsOnlyWhatDiffers() throws Exception {
        Path base = dir.resolve("base.qcow2");
        qemuOk("qemu-img", "convert", "-O", "qcow2", source.toString(), base.toString());
        // The new disk: the base with one cluster changed, one zeroed and data in a former hole.
        byte[] changed = sourceBytes.clone();
        changed[100_000] ^= 0x55;
        java.util.Arrays.fill(changed, 3 << 16, 4 << 16, (byte) 0);
        java.util.Arrays.fill(changed, DISK - 5000, DISK - 10, (byte) 0x33);
        Path newer = dir.resolve("newer.raw");
        Files.write(newer, changed);
        Path overlay = dir.resolve("overlay.qcow2");
        jvirtOk("convert", "-O", "qcow2", "-B", base.getFileName().toString(), "-F", "qcow2", newer.toString(), overlay.toString());
        qemuOk("qemu-img", "check", overlay.toString());
        qemuOk("qemu-img", "compare", "-f", "raw", "-F", "qcow2", newer.toString(), overlay.toString());
        JsonNode info = JSON.readTree(qemuOk("qemu-img", "info", "--output=json", overlay.toString()).stdout());
        assertEquals("base.qcow2", info.get("backing-filename").asText());
        assertEquals("qcow2", info.get("backing-filename-format").asText());
        JsonNode check = JSON.readTree(qemuOk("qemu-img", "check", "--output=json", overlay.toString()).stdout());
        assertTrue(check.get("allocated-clusters").asLong() <= 3, check.toString());
        Path raw = dir.resolve("overlay.raw");
        qemuOk("qemu-img", "convert", "-O", "raw", overlay.toString(), raw.toString());
        assertArrayEquals(changed, Files.readAllBytes(raw));

        Path compressedOverlay = dir.resolve("overlay-c.qcow2");
        jvirtOk("convert", "-c", "-O", "qcow2", "-B", base.toString(), "-F", "qcow2", newer.toString(), compressedOverlay.toString());
        qemuOk("qemu-img", "check", compressedOverlay.toString());
        qemuOk("qemu-img", "compare", "-f", "raw", "-F", "qcow2", newer.toString(), compressedOverlay.toString());
    }

    @Test
    void backingNeedsAFormatAsInQemuImg() {
        QemuImg.Result result = jvirt("convert", "-O", "qcow2", "-B", source.toString(), source.toString(), dir.resolve("x.qcow2").toString());
        assertNotEquals(0, result.status());
        assertTrue(result.stderr().contains("Use of backing file requires explicit backing format"), result.stderr());
    }
}
