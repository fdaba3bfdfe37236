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

/**
 * jvirt-img commit against qemu-img commit on copies of the same chain (base &lt;- mid &lt;- top, top
 * larger than mid, with data, a zero cluster and a range past the backing file's end): every layer
 * ends up with the same map, the same guest content, and a clean check.
 */
class CommitTest {

    private static final String[] LAYERS = {"base.qcow2", "mid.qcow2", "top.qcow2"};

    @TempDir
    Path dir;
    private Path original;
    private int runs;

    @BeforeEach
    void buildChain() throws Exception {
        assumeTrue(QemuImg.available(), "qemu-utils not installed; scripts/setup installs it");
        original = Files.createDirectory(dir.resolve("original"));
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", original.resolve("base.qcow2").toString(), "8M");
        qemuIo(original.resolve("base.qcow2"), "qcow2", "write -P 1 0 4M");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", original.resolve("mid.qcow2").toString());
        qemuIo(original.resolve("mid.qcow2"), "qcow2", "write -P 2 1M 1M");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", original.resolve("top.qcow2").toString(), "16M");
        qemuIo(original.resolve("top.qcow2"), "qcow2", "write -P 3 1536k 64k", "write -z 0 64k", "write -P 4 12M 1M", "write -P 5 3M 10000");
    }

    private Path copyChain(String name) throws Exception {
        Path copy = Files.createDirectory(dir.resolve(name));
        for (String layer : LAYERS) {
            Files.copy(original.resolve(layer), copy.resolve(layer));
        }
        return copy;
    }

    /** The allocation map without host offsets (qemu-img's commit job may write in another order). */
    private String map(Path image) throws Exception {
        return qemuOk("qemu-img", "map", "--output=json", image.toString()).stdout().replaceAll(", \"offset\": [0-9]+", "");
    }

    /** Runs commit with each tool on its own copy of the chain and compares every layer. */
    private void commitBoth(String... args) throws Exception {
        int run = ++runs;
        Path theirs = copyChain("theirs" + run);
        Path ours = copyChain("ours" + run);
        List<String> qemuArgs = new ArrayList<>(List.of("qemu-img", "commit"));
        List<String> jvirtArgs = new ArrayList<>(List.of("commit"));
        for (String arg : args) {
            qemuArgs.add(arg.startsWith("DIR/") ? theirs.resolve(arg.substring(4)).toString() : arg);
            jvirtArgs.add(arg.startsWith("DIR/") ? ours.resolve(arg.substring(4)).toString() : arg);
        }
        QemuImg.Result q = qemu(qemuArgs.toArray(String[]::new));
        QemuImg.Result j = jvirt(jvirtArgs.toArray(String[]::new));
        String what = String.join(" ", args);
        assertEquals(q.status(), j.status(), what + ": qemu said " + q.stderr() + ", we said " + j.stderr());
        assertEquals(q.stdout(), j.stdout(), what);
        for (String layer : LAYERS) {
            assertEquals(map(theirs.resolve(layer)), map(ours.resolve(layer)), what + ": map of " + layer);
            QemuImg.Result compare = qemu("qemu-img", "compare", "-s", theirs.resolve(layer).toString(), ours.resolve(layer).toString());
            assertEquals(0, compare.status(), what + ": " + layer + " " + compare.stdout());
            QemuImg.Result check = qemu("qemu-img", "check", ours.resolve(layer).toString());
            assertEquals(0, check.status(), what + ": " + layer + " " + check.stdout() + check.stderr());
        }
        if (j.status() == 0) {
            QemuImg.Result unchanged = qemu("qemu-img", "compare", original.resolve("top.qcow2").toString(), ours.resolve("top.qcow2").toString());
            assertEquals(0, unchanged.status(), "the guest sees the same disk through the top image: " + unchanged.stdout());
        }
    }

    @Test
    void commitIntoTheImmediateBackingFileEmptiesTheImage() throws Exception {
        commitBoth("DIR/top.qcow2");
    }

    @Test
    void dropKeepsTheImageAsItWas() throws Exception {
        commitBoth("-d", "DIR/top.qcow2");
        commitBoth("-q", "DIR/mid.qcow2");
    }

    @Test
    void baseDeeperInTheChainTakesEveryLayerAbove() throws Exception {
        commitBoth("-b", "DIR/base.qcow2", "DIR/top.qcow2");
        commitBoth("-b", "base.qcow2", "-q", "DIR/mid.qcow2");
    }

    @Test
    void errorsLikeQemu() throws Exception {
        commitBoth("DIR/base.qcow2");
        commitBoth("-b", "DIR/nope.qcow2", "DIR/top.qcow2");
        commitBoth("-b", "DIR/top.qcow2", "DIR/top.qcow2");
        commitBoth("DIR/nope.qcow2");
        assertEquals(1, jvirt("commit").status());
    }
}
