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

import static dev.jvirt.img.QemuImg.jvirtOk;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** compression_type=zstd both ways: images qemu-img compressed read back, and ours pass qemu-img check and compare. */
class ZstdTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private Path source;
    private byte[] sourceBytes;

    @BeforeEach
    void makeSource() throws Exception {
        assumeTrue(QemuImg.available(), "qemu-img/qemu-io (qemu-utils) not installed");
        sourceBytes = new byte[(3 << 20) + 4096];
        Random random = new Random(11);
        for (int at = 0; at < sourceBytes.length; at += 32 << 10) {
            int kind = random.nextInt(4);
            int length = Math.min(32 << 10, sourceBytes.length - at);
            for (int i = 0; i < length && kind != 0; i++) {
                sourceBytes[at + i] = (byte) (kind == 1 ? random.nextInt() : kind == 2 ? 'a' + random.nextInt(4) : i / 300);
            }
        }
        source = dir.resolve("source.raw");
        Files.write(source, sourceBytes);
    }

    @ParameterizedTest(name = "cluster_size={0}")
    @ValueSource(ints = {512, 65536, 2 << 20})
    void qemuZstdImagesReadBack(int clusterSize) throws Exception {
        Path image = dir.resolve("q.qcow2");
        qemuOk("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,cluster_size=" + clusterSize,
                source.toString(), image.toString());
        Path raw = dir.resolve("back.raw");
        jvirtOk("convert", "-O", "raw", image.toString(), raw.toString());
        assertArrayEquals(sourceBytes, Files.readAllBytes(raw));
        assertTrue(jvirtOk("info", image.toString()).stdout().contains("compression type: zstd"));
    }

    @ParameterizedTest(name = "cluster_size={0}")
    @ValueSource(ints = {512, 65536, 2 << 20})
    void ourZstdImagesPassQemuImg(int clusterSize) throws Exception {
        Path image = dir.resolve("j.qcow2");
        jvirtOk("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,cluster_size=" + clusterSize,
                source.toString(), image.toString());
        qemuOk("qemu-img", "check", image.toString());
        qemuOk("qemu-img", "compare", "-f", "raw", "-F", "qcow2", source.toString(), image.toString());
        JsonNode info = JSON.readTree(qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout());
        assertEquals("zstd", info.get("format-specific").get("data").get("compression-type").asText());
        JsonNode check = JSON.readTree(qemuOk("qemu-img", "check", "--output=json", image.toString()).stdout());
        assertTrue(check.get("compressed-clusters").asLong() > 0, check.toString());
        Path raw = dir.resolve("back.raw");
        jvirtOk("convert", "-O", "raw", image.toString(), raw.toString());
        assertArrayEquals(sourceBytes, Files.readAllBytes(raw));
    }

    @Test
    void createdZstdImagesAreWhatQemuImgMakes() throws Exception {
        Path ours = dir.resolve("ours.qcow2");
        jvirtOk("create", "-f", "qcow2", "-o", "compression_type=zstd", ours.toString(), "1M");
        JsonNode info = JSON.readTree(qemuOk("qemu-img", "info", "--output=json", ours.toString()).stdout());
        assertEquals("zstd", info.get("format-specific").get("data").get("compression-type").asText());
        qemuOk("qemu-img", "check", ours.toString());
    }
}
