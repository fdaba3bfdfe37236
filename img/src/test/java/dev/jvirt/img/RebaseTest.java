package dev.jvirt.img;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.qemu;
import static dev.jvirt.img.QemuImg.qemuIo;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** jvirt-img rebase against qemu-img rebase: same guest content, same allocation, same header as qemu-img info shows it. */
class RebaseTest {

    @TempDir
    Path dir;
    private final ObjectMapper json = new ObjectMapper();
    private int runs;

    @BeforeEach
    void needQemu() {
        assumeTrue(QemuImg.available(), "qemu-utils not installed; scripts/setup installs it");
    }

    private Path qcow2(String name, String size, String... qemuIoCommands) throws Exception {
        Path image = dir.resolve(name);
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), size);
        if (qemuIoCommands.length > 0) {
            qemuIo(image, "qcow2", qemuIoCommands);
        }
        return image;
    }

    private Path overlay(String name, String backing, String... qemuIoCommands) throws Exception {
        Path image = dir.resolve(name);
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", image.toString());
        if (qemuIoCommands.length > 0) {
            qemuIo(image, "qcow2", qemuIoCommands);
        }
        return image;
    }

    private JsonNode info(Path image) throws Exception {
        ObjectNode info = (ObjectNode) json.readTree(qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout());
        info.remove("actual-size");
        info.remove("filename");
        info.remove("full-backing-filename");
        return info;
    }

    private String map(Path image) throws Exception {
        return qemuOk("qemu-img", "map", "--output=json", image.toString()).stdout();
    }

    /**
     * Rebases a copy of {@code image} with each tool (same directory, so relative names resolve the
     * same) and checks: same exit status, same header, same allocation, content unchanged, clean.
     */
    private Path rebaseBoth(Path image, String... args) throws Exception {
        int run = ++runs;
        Path theirs = dir.resolve("theirs-" + run + "-" + image.getFileName());
        Path ours = dir.resolve("ours-" + run + "-" + image.getFileName());
        Path before = dir.resolve("before-" + run + "-" + image.getFileName());
        Files.copy(image, theirs);
        Files.copy(image, ours);
        Files.copy(image, before);
        List<String> qemuArgs = new ArrayList<>(List.of("qemu-img", "rebase"));
        List<String> jvirtArgs = new ArrayList<>(List.of("rebase"));
        for (String arg : args) {
            qemuArgs.add(arg.equals("IMAGE") ? theirs.toString() : arg);
            jvirtArgs.add(arg.equals("IMAGE") ? ours.toString() : arg);
        }
        QemuImg.Result q = qemu(qemuArgs.toArray(String[]::new));
        QemuImg.Result j = jvirt(jvirtArgs.toArray(String[]::new));
        assertEquals(q.status(), j.status(), String.join(" ", args) + ": qemu said " + q.stderr() + ", we said " + j.stderr());
        assertEquals(q.stdout(), j.stdout());
        String absent = List.of(args).stream().filter(arg -> arg.startsWith("does-not-exist")).findFirst().orElse(null);
        if (absent != null) {
            Path missing = dir.resolve(absent);
            qemuOk("qemu-img", "create", "-q", "-f", "qcow2", missing.toString(), "8M");
            try {
                assertEquals(info(theirs), info(ours));
            } finally {
                Files.delete(missing);
            }
            return ours;
        }
        if (j.status() != 0) {
            assertArrayEquals(Files.readAllBytes(before), Files.readAllBytes(ours), "a refused rebase leaves the image alone");
            return ours;
        }
        assertEquals(info(theirs), info(ours));
        assertEquals(map(theirs).replace(theirs.getFileName().toString(), "IMAGE"),
                map(ours).replace(ours.getFileName().toString(), "IMAGE"));
        QemuImg.Result check = qemu("qemu-img", "check", ours.toString());
        assertEquals(0, check.status(), check.stdout() + check.stderr());
        return ours;
    }

    private void assertSameGuestContent(Path a, Path b) throws Exception {
        QemuImg.Result compare = qemu("qemu-img", "compare", a.toString(), b.toString());
        assertEquals(0, compare.status(), compare.stdout() + compare.stderr());
    }

    @Test
    void safeRebaseCopiesWhatDiffersAndKeepsTheGuestView() throws Exception {
        qcow2("base1.qcow2", "8M", "write -P 1 0 4M", "write -P 4 7M 512");
        qcow2("base2.qcow2", "8M", "write -P 1 0 2M", "write -P 2 5M 1M", "write -P 1 3M 4k");
        Path top = overlay("top.qcow2", "base1.qcow2", "write -P 9 1M 64k", "write -P 8 3M 100k", "write -z 6M 64k");
        Path ours = rebaseBoth(top, "-b", "base2.qcow2", "-F", "qcow2", "IMAGE");
        assertSameGuestContent(top, ours);
        assertEquals("base2.qcow2", info(ours).get("backing-filename").asText());
    }

    @Test
    void rebaseOntoShorterAndLongerBackingFiles() throws Exception {
        qcow2("long.qcow2", "16M", "write -P 3 0 16M");
        qcow2("short.qcow2", "2M", "write -P 3 0 2M");
        Path top = overlay("mid.qcow2", "long.qcow2", "write -P 5 1M 1M");
        Path ours = rebaseBoth(top, "-b", "short.qcow2", "-F", "qcow2", "IMAGE");
        assertSameGuestContent(top, ours);
        Path onShort = overlay("onshort.qcow2", "short.qcow2");
        qemuOk("qemu-img", "resize", "-q", onShort.toString(), "16M");
        ours = rebaseBoth(onShort, "-b", "long.qcow2", "-F", "qcow2", "IMAGE");
        assertSameGuestContent(onShort, ours);
    }

    @Test
    void emptyBackingNameFlattensAndUnsafeModeOnlyRewritesTheHeader() throws Exception {
        qcow2("base.qcow2", "8M", "write -P 1 0 3M", "write -P 7 6M 64k");
        Path top = overlay("flat.qcow2", "base.qcow2", "write -P 9 1M 64k");
        Path flat = rebaseBoth(top, "-b", "", "IMAGE");
        assertFalse(info(flat).has("backing-filename"));
        assertSameGuestContent(top, flat);

        qcow2("other.qcow2", "8M");
        Path unsafe = rebaseBoth(top, "-u", "-b", "other.qcow2", "-F", "qcow2", "IMAGE");
        byte[] original = Files.readAllBytes(top);
        byte[] rewritten = Files.readAllBytes(unsafe);
        assertArrayEquals(java.util.Arrays.copyOfRange(original, 65536, original.length),
                java.util.Arrays.copyOfRange(rewritten, 65536, rewritten.length), "only the header cluster changes");
        rebaseBoth(top, "-u", "-b", "does-not-exist.qcow2", "-F", "qcow2", "IMAGE");
        rebaseBoth(top, "-u", "IMAGE");
        String longName = "./".repeat(300) + "other.qcow2"; // 611 bytes in the header, still a real file
        rebaseBoth(top, "-u", "-b", longName, "-F", "qcow2", "IMAGE");
    }

    @Test
    void refusalsLeaveTheImageUntouched() throws Exception {
        qcow2("base.qcow2", "8M", "write -P 1 0 1M");
        qcow2("other.qcow2", "8M", "write -P 2 0 1M");
        Path top = overlay("top.qcow2", "base.qcow2", "write -P 9 4M 64k");
        rebaseBoth(top, "IMAGE");
        rebaseBoth(top, "-b", "missing.qcow2", "-F", "qcow2", "IMAGE");
        rebaseBoth(top, "-u", "-b", "other.qcow2", "IMAGE");
        Path raw = dir.resolve("plain.raw");
        Files.write(raw, new byte[65536]);
        rebaseBoth(raw, "-f", "raw", "-u", "-b", "base.qcow2", "-F", "qcow2", "IMAGE");
        assertEquals(1, jvirt("rebase", "-b", "base.qcow2", "-F", "qcow2", dir.resolve("nope.qcow2").toString()).status());
    }
}
