package dev.jvirt.img;

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
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** jvirt-img compare prints what qemu-img compare prints and exits with its status, pair by pair. */
class CompareTest {

    @TempDir
    Path dir;

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

    /** Runs both tools with the same arguments and expects the same exit status and stdout. */
    private void assertSameAsQemu(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("qemu-img", "compare"));
        command.addAll(List.of(args));
        QemuImg.Result theirs = qemu(command.toArray(String[]::new));
        List<String> ours = new ArrayList<>(List.of("compare"));
        ours.addAll(List.of(args));
        QemuImg.Result result = jvirt(ours.toArray(String[]::new));
        String what = String.join(" ", args).replace(dir + "/", "");
        assertEquals(theirs.status(), result.status(), what + ": qemu said " + theirs.stdout() + theirs.stderr() + " we said "
                + result.stdout() + result.stderr());
        assertEquals(theirs.stdout(), result.stdout(), what);
    }

    private void assertBothWays(Path a, Path b) throws Exception {
        for (String[] options : new String[][] {{}, {"-s"}}) {
            List<String> forward = new ArrayList<>(List.of(options));
            forward.add(a.toString());
            forward.add(b.toString());
            assertSameAsQemu(forward.toArray(String[]::new));
            List<String> backward = new ArrayList<>(List.of(options));
            backward.add(b.toString());
            backward.add(a.toString());
            assertSameAsQemu(backward.toArray(String[]::new));
        }
    }

    @Test
    void contentDifferencesAreReportedAtTheSameSector() throws Exception {
        Path a = qcow2("a.qcow2", "64M", "write -P 1 1000 3000", "write -P 7 5M 2M");
        Path same = qcow2("same.qcow2", "64M", "write -P 1 1000 3000", "write -P 7 5M 2M");
        Path oneByte = qcow2("byte.qcow2", "64M", "write -P 1 1000 3000", "write -P 7 5M 2M", "write -P 2 6M 1");
        Path early = qcow2("early.qcow2", "64M", "write -P 1 1000 3000", "write -P 7 5M 2M", "write -P 2 2000 1");
        Path missing = qcow2("missing.qcow2", "64M", "write -P 1 1000 3000");
        assertBothWays(a, same);
        assertBothWays(a, oneByte);
        assertBothWays(a, early);
        assertBothWays(a, missing);
    }

    @Test
    void sizeDifferencesFollowQemusRules() throws Exception {
        Path small = qcow2("small.qcow2", "64M", "write -P 1 0 64k");
        Path zeroTail = qcow2("zerotail.qcow2", "65M", "write -P 1 0 64k", "write -z 64M 64k");
        Path dataTail = qcow2("datatail.qcow2", "65M", "write -P 1 0 64k", "write -P 3 67108964 1");
        assertBothWays(small, zeroTail);
        assertBothWays(small, dataTail);
    }

    @Test
    void zeroClustersUnallocatedClustersAndOtherFormats() throws Exception {
        Path zero = qcow2("zero.qcow2", "64M", "write -z 0 64k", "write -P 5 1M 64k");
        Path empty = qcow2("empty.qcow2", "64M", "write -P 5 1M 64k");
        assertBothWays(zero, empty);
        Path raw = dir.resolve("full.raw");
        qemuOk("qemu-img", "convert", "-O", "raw", "-S", "0", empty.toString(), raw.toString());
        assertSameAsQemu("-f", "qcow2", "-F", "raw", empty.toString(), raw.toString());
        assertSameAsQemu(raw.toString(), empty.toString());
        assertSameAsQemu("-f", "raw", empty.toString(), empty.toString());
        Path base = qcow2("base.qcow2", "64M", "write -P 5 1M 64k");
        Path overlay = dir.resolve("overlay.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay.toString());
        qemuIo(overlay, "qcow2", "write -P 6 2M 4k");
        assertBothWays(overlay, empty);
        assertSameAsQemu("-q", overlay.toString(), base.toString());
        assertSameAsQemu("-q", base.toString(), empty.toString());
    }

    @Test
    void errorsExitWithQemusStatuses() throws Exception {
        Path a = qcow2("a.qcow2", "1M");
        assertSameAsQemu(a.toString(), dir.resolve("nope.qcow2").toString());
        assertSameAsQemu(dir.resolve("nope.qcow2").toString(), a.toString());
        assertSameAsQemu(a.toString());
        assertSameAsQemu("-f", "qcow2", "-F", "qcow2", a.toString(), Files.writeString(dir.resolve("text.raw"), "hello").toString());
    }
}
