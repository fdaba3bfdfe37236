package dev.jvirt.img;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.jvirtOk;
import static dev.jvirt.img.QemuImg.qemuIo;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** amend compat= and lazy_refcounts=, judged by qemu-img info, check and compare. */
class AmendTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        assumeTrue(QemuImg.available(), "qemu-img/qemu-io (qemu-utils) not installed");
    }

    private static JsonNode specific(Path image) throws Exception {
        return JSON.readTree(qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout()).get("format-specific").get("data");
    }

    private Path imageWithData(String compat) throws Exception {
        Path image = dir.resolve("d-" + compat + ".qcow2");
        qemuOk("qemu-img", "create", "-f", "qcow2", "-o", "compat=" + compat, image.toString(), "4M");
        qemuIo(image, "qcow2", "write -P 0x5a 0 100k", "write -P 0x11 1M 64k");
        return image;
    }

    private byte[] rawOf(Path image) throws Exception {
        Path raw = dir.resolve("r-" + System.nanoTime() + ".raw");
        qemuOk("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString());
        return Files.readAllBytes(raw);
    }

    @Test
    void downgradeAndUpgradeKeepTheContent() throws Exception {
        Path image = imageWithData("1.1");
        qemuIo(image, "qcow2", "write -z 2M 128k", "write -P 0x77 3M 64k", "write -z 3M 64k");
        byte[] before = rawOf(image);
        jvirtOk("amend", "-o", "compat=0.10", image.toString());
        assertEquals("0.10", specific(image).get("compat").asText());
        qemuOk("qemu-img", "check", image.toString());
        assertArrayEquals(before, rawOf(image));

        jvirtOk("amend", "-f", "qcow2", "-o", "compat=1.1,lazy_refcounts=on", image.toString());
        JsonNode data = specific(image);
        assertEquals("1.1", data.get("compat").asText());
        assertTrue(data.get("lazy-refcounts").asBoolean());
        qemuOk("qemu-img", "check", image.toString());
        assertArrayEquals(before, rawOf(image));

        jvirtOk("amend", "-o", "lazy_refcounts=off", image.toString());
        assertEquals(false, specific(image).get("lazy-refcounts").asBoolean());
        qemuOk("qemu-img", "check", image.toString());
    }

    @Test
    void backingFileAndFormatSurviveAVersionChange() throws Exception {
        Path base = imageWithData("1.1");
        Path overlay = dir.resolve("overlay.qcow2");
        qemuOk("qemu-img", "create", "-f", "qcow2", "-o", "compat=0.10", "-b", base.getFileName().toString(), "-F", "qcow2", overlay.toString());
        qemuIo(overlay, "qcow2", "write -P 0x33 512k 64k");
        byte[] before = rawOf(overlay);
        jvirtOk("amend", "-o", "compat=1.1", overlay.toString());
        JsonNode info = JSON.readTree(qemuOk("qemu-img", "info", "--output=json", overlay.toString()).stdout());
        assertEquals(base.getFileName().toString(), info.get("backing-filename").asText());
        assertEquals("qcow2", info.get("backing-filename-format").asText());
        assertEquals("1.1", info.get("format-specific").get("data").get("compat").asText());
        qemuOk("qemu-img", "check", overlay.toString());
        assertArrayEquals(before, rawOf(overlay));
        jvirtOk("amend", "-o", "compat=0.10", overlay.toString());
        assertEquals("0.10", specific(overlay).get("compat").asText());
        qemuOk("qemu-img", "check", overlay.toString());
        assertArrayEquals(before, rawOf(overlay));
    }

    @Test
    void snapshotsSurviveADowngrade() throws Exception {
        Path image = imageWithData("1.1");
        qemuOk("qemu-img", "snapshot", "-c", "one", image.toString());
        qemuIo(image, "qcow2", "write -P 0x99 0 64k");
        jvirtOk("amend", "-o", "compat=0.10", image.toString());
        qemuOk("qemu-img", "check", image.toString());
        assertTrue(qemuOk("qemu-img", "snapshot", "-l", image.toString()).stdout().contains("one"));
        jvirtOk("amend", "-o", "compat=1.1", image.toString());
        qemuOk("qemu-img", "check", image.toString());
    }

    private void assertRefused(String expected, String... args) {
        QemuImg.Result result = jvirt(args);
        assertNotEquals(0, result.status());
        assertTrue(result.stderr().contains(expected), result.stderr());
    }

    @Test
    void refusesWhatQemuImgRefusesWithItsMessages() throws Exception {
        Path image = imageWithData("1.1");
        byte[] before = Files.readAllBytes(image);
        String file = image.toString();
        assertRefused("Invalid parameter 'cluster_size'", "amend", "-o", "cluster_size=4096", file);
        assertRefused("This option is only supported for image creation", "amend", "-o", "compression_type=zstd", file);
        assertRefused("Lazy refcounts only supported with compatibility level 1.1 and above", "amend", "-o", "compat=0.10,lazy_refcounts=on", file);
        assertRefused("Unknown compatibility level 2.0", "amend", "-o", "compat=2.0", file);
        assertRefused("Parameter 'lazy_refcounts' expects 'on' or 'off'", "amend", "-o", "lazy_refcounts=maybe", file);
        assertRefused("Invalid parameter 'foo'", "amend", "-o", "foo=bar", file);
        assertRefused("Must specify options (-o)", "amend", file);
        assertRefused("not supported yet", "amend", "-o", "refcount_bits=8", file);
        Path raw = dir.resolve("r.raw");
        Files.write(raw, new byte[1 << 20]);
        assertRefused("Format driver 'raw' does not support option amendment", "amend", "-o", "compat=0.10", raw.toString());
        Path narrow = dir.resolve("r8.qcow2");
        qemuOk("qemu-img", "create", "-f", "qcow2", "-o", "refcount_bits=8", narrow.toString(), "1M");
        assertRefused("compat=0.10 requires refcount_bits=16", "amend", "-o", "compat=0.10", narrow.toString());
        assertArrayEquals(before, Files.readAllBytes(image));
    }

    @Test
    void zeroClustersOverABackingFileAreRefusedBeforeAnyWrite() throws Exception {
        Path base = imageWithData("1.1");
        Path overlay = dir.resolve("o.qcow2");
        qemuOk("qemu-img", "create", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", overlay.toString());
        qemuIo(overlay, "qcow2", "write -z 0 64k");
        byte[] before = Files.readAllBytes(overlay);
        assertRefused("not supported yet", "amend", "-o", "compat=0.10", overlay.toString());
        assertArrayEquals(before, Files.readAllBytes(overlay));
    }
}
