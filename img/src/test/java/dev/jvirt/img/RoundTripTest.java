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
import java.util.Arrays;
import java.util.Random;

import static dev.jvirt.img.QemuImg.jvirtOk;
import static dev.jvirt.img.QemuImg.qemu;
import static dev.jvirt.img.QemuImg.qemuIo;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Images cross between jvirt-img and the real qemu-img in both directions without a byte changing. */
class RoundTripTest {

    private static final int DISK = 8 << 20;

    @TempDir
    Path dir;
    private Path source;
    private byte[] sourceBytes;

    @BeforeEach
    void makeSourceWithDataAndHoles() throws Exception {
        assumeTrue(QemuImg.available(), "qemu-img/qemu-io (qemu-utils) not installed; scripts/setup installs them");
        sourceBytes = new byte[DISK];
        Random random = new Random(42);
        for (int at = 0; at < DISK; at += 64 << 10) {
            int kind = random.nextInt(4);
            if (kind == 0) {
                continue; // a hole
            }
            int length = 1 + random.nextInt(64 << 10);
            for (int i = 0; i < length && at + i < DISK; i++) {
                sourceBytes[at + i] = (byte) (kind == 1 ? random.nextInt() : (at >> 16) + 1);
            }
        }
        source = dir.resolve("source.raw");
        Files.write(source, sourceBytes);
    }

    private byte[] toRawWithJvirt(Path image) throws Exception {
        Path raw = dir.resolve("out-" + System.nanoTime() + ".raw");
        jvirtOk("convert", "-O", "raw", image.toString(), raw.toString());
        return Files.readAllBytes(raw);
    }

    private byte[] toRawWithQemu(Path image) throws Exception {
        Path raw = dir.resolve("qout-" + System.nanoTime() + ".raw");
        qemuOk("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString());
        return Files.readAllBytes(raw);
    }

    @ParameterizedTest(name = "cluster_size={0}")
    @ValueSource(ints = {512, 4096, 65536, 2 << 20})
    void qemuImagesOfEveryClusterSizeReadBackIdentically(int clusterSize) throws Exception {
        Path image = dir.resolve("q.qcow2");
        qemuOk("qemu-img", "convert", "-O", "qcow2", "-o", "cluster_size=" + clusterSize, source.toString(), image.toString());
        assertArrayEquals(sourceBytes, toRawWithJvirt(image));
    }

    @Test
    void compressedAndVersion2ImagesReadBackIdentically() throws Exception {
        Path compressed = dir.resolve("c.qcow2");
        qemuOk("qemu-img", "convert", "-c", "-O", "qcow2", source.toString(), compressed.toString());
        assertArrayEquals(sourceBytes, toRawWithJvirt(compressed));
        Path v2 = dir.resolve("v2.qcow2");
        qemuOk("qemu-img", "convert", "-O", "qcow2", "-o", "compat=0.10", source.toString(), v2.toString());
        assertArrayEquals(sourceBytes, toRawWithJvirt(v2));
    }

    @Test
    void backingChainsAndZeroClustersReadBackAsQemuSeesThem() throws Exception {
        Path base = dir.resolve("base.qcow2");
        qemuOk("qemu-img", "convert", "-O", "qcow2", source.toString(), base.toString());
        Path middle = dir.resolve("middle.qcow2");
        qemuOk("qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", middle.toString());
        qemuIo(middle, "qcow2", "write -P 0xab 1M 192k", "write -z 3M 128k");
        Path top = dir.resolve("top.qcow2");
        qemuOk("qemu-img", "create", "-f", "qcow2", "-b", middle.toString(), "-F", "qcow2", top.toString());
        qemuIo(top, "qcow2", "write -P 0xcd 1100k 8k", "write -P 0x11 7M 4k");
        assertArrayEquals(toRawWithQemu(top), toRawWithJvirt(top));
    }

    @ParameterizedTest(name = "cluster_size={0}")
    @ValueSource(ints = {512, 65536})
    void ourQcow2PassesQemuCheckAndCompare(int clusterSize) throws Exception {
        Path ours = dir.resolve("ours.qcow2");
        jvirtOk("convert", "-O", "qcow2", "-o", "cluster_size=" + clusterSize, source.toString(), ours.toString());
        QemuImg.Result check = qemu("qemu-img", "check", ours.toString());
        assertEquals(0, check.status(), check.stdout() + check.stderr());
        assertEquals(0, qemu("qemu-img", "compare", "-f", "raw", "-F", "qcow2", source.toString(), ours.toString()).status());
    }

    @Test
    void writesIntoOurOverlayLeaveAConsistentImage() throws Exception {
        Path base = dir.resolve("base.qcow2");
        jvirtOk("convert", "-O", "qcow2", source.toString(), base.toString());
        Path overlay = dir.resolve("overlay.qcow2");
        jvirtOk("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay.toString());
        byte[] expected = sourceBytes.clone();
        try (var image = dev.jvirt.block.Images.open(overlay, dev.jvirt.block.OpenOptions.forWriting())) {
            Random random = new Random(7);
            for (int i = 0; i < 200; i++) {
                int length = 1 + random.nextInt(100_000);
                int at = random.nextInt(DISK - length);
                byte[] data = new byte[length];
                random.nextBytes(data);
                image.write(at, data, 0, length);
                System.arraycopy(data, 0, expected, at, length);
            }
            image.writeZeroes(5 << 20, 256 << 10);
            Arrays.fill(expected, 5 << 20, (5 << 20) + (256 << 10), (byte) 0);
        }
        QemuImg.Result check = qemu("qemu-img", "check", overlay.toString());
        assertEquals(0, check.status(), check.stdout() + check.stderr());
        assertArrayEquals(expected, toRawWithQemu(overlay), "qemu-img reads what we wrote");
    }

    @Test
    void infoJsonAgreesWithQemuImg() throws Exception {
        Path base = dir.resolve("base.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096,lazy_refcounts=on", base.toString(), "1G");
        Path overlay = dir.resolve("overlay.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", overlay.toString());
        Path v2 = dir.resolve("v2.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2.toString(), "100M");
        ObjectMapper json = new ObjectMapper();
        for (Path image : new Path[] {base, overlay, v2, source}) {
            JsonNode theirs = json.readTree(qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout());
            JsonNode ours = json.readTree(jvirtOk("info", "--output=json", image.toString()).stdout());
            assertEquals(theirs, ours, image.getFileName().toString());
        }
        JsonNode theirs = json.readTree(qemuOk("qemu-img", "info", "--output=json", "--backing-chain", overlay.toString()).stdout());
        JsonNode ours = json.readTree(jvirtOk("info", "--output=json", "--backing-chain", overlay.toString()).stdout());
        assertEquals(theirs, ours);
    }

    @Test
    void mapJsonAgreesWithQemuImg() throws Exception {
        Path base = dir.resolve("mapbase.qcow2");
        qemuOk("qemu-img", "convert", "-O", "qcow2", source.toString(), base.toString());
        Path overlay = dir.resolve("map.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", overlay.toString());
        qemuIo(overlay, "qcow2", "write -P 2 64k 64k", "write -z 1M 64k", "write -P 3 6M 300k");
        for (Path image : new Path[] {base, overlay}) {
            String theirs = qemuOk("qemu-img", "map", "--output=json", image.toString()).stdout();
            String ours = jvirtOk("map", "--output=json", image.toString()).stdout();
            assertEquals(theirs, ours, image.getFileName().toString());
            assertEquals(qemuOk("qemu-img", "map", image.toString()).stdout(), jvirtOk("map", image.toString()).stdout());
        }
    }
}
