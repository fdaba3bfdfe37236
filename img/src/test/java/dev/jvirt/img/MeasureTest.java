package dev.jvirt.img;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.qemu;
import static dev.jvirt.img.QemuImg.qemuIo;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** jvirt-img measure prints exactly what qemu-img measure prints, human and JSON, for sizes and for images. */
class MeasureTest {

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        assumeTrue(QemuImg.available(), "qemu-utils not installed; scripts/setup installs it");
    }

    private void assertSameAsQemu(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("qemu-img", "measure"));
        command.addAll(List.of(args));
        QemuImg.Result theirs = qemu(command.toArray(String[]::new));
        List<String> ours = new ArrayList<>(List.of("measure"));
        ours.addAll(List.of(args));
        QemuImg.Result result = jvirt(ours.toArray(String[]::new));
        String what = String.join(" ", args).replace(dir + "/", "");
        assertEquals(theirs.status(), result.status(), what + ": qemu said " + theirs.stderr() + " we said " + result.stderr());
        assertEquals(theirs.stdout(), result.stdout(), what);
    }

    private void bothOutputs(String... args) throws Exception {
        assertSameAsQemu(args);
        List<String> json = new ArrayList<>(List.of("--output=json"));
        json.addAll(List.of(args));
        assertSameAsQemu(json.toArray(String[]::new));
    }

    @Test
    void sizesForEveryClusterSizeAndOption() throws Exception {
        for (String size : new String[] {"0", "1", "3000", "1M", "1G", "10T", "1.5G", "100G"}) {
            bothOutputs("--size", size);
            bothOutputs("-O", "raw", "--size", size);
            bothOutputs("-O", "qcow2", "--size", size);
        }
        for (String options : new String[] {"cluster_size=512", "cluster_size=4k", "cluster_size=2M", "refcount_bits=1",
                "refcount_bits=64", "compat=0.10", "preallocation=full", "preallocation=metadata", "preallocation=falloc",
                "extended_l2=on", "cluster_size=32k,extended_l2=on"}) {
            bothOutputs("-O", "qcow2", "-o", options, "--size", "5G");
            bothOutputs("-O", "qcow2", "-o", options, "--size", "7777777");
        }
    }

    @Test
    void imagesCountTheClustersThatHoldData() throws Exception {
        Path image = dir.resolve("data.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "64M");
        qemuIo(image, "qcow2", "write -P 1 1000 3000", "write -z 1M 1M", "write -P 3 10M 200k", "write -P 0 30M 64k");
        bothOutputs(image.toString());
        bothOutputs("-O", "qcow2", image.toString());
        bothOutputs("-O", "qcow2", "-o", "cluster_size=4k", image.toString());
        bothOutputs("-O", "qcow2", "-o", "cluster_size=2M", image.toString());
        bothOutputs("-O", "qcow2", "-o", "backing_file=elsewhere.qcow2", image.toString());
        bothOutputs("-O", "qcow2", "-o", "compat=0.10", image.toString());

        Path overlay = dir.resolve("overlay.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", "-b", image.toString(), "-F", "qcow2", overlay.toString(), "100M");
        qemuIo(overlay, "qcow2", "write -P 5 50M 1M", "write -z 10M 64k");
        bothOutputs("-O", "qcow2", overlay.toString());

        Path v2 = dir.resolve("v2.qcow2");
        qemuOk("qemu-img", "convert", "-O", "qcow2", "-o", "compat=0.10,cluster_size=4k", image.toString(), v2.toString());
        bothOutputs("-O", "qcow2", v2.toString());
        bothOutputs("-f", "qcow2", "-O", "raw", v2.toString());
    }

    @Test
    void sparseRawFiles() throws Exception {
        Path raw = dir.resolve("sparse.raw");
        Random random = new Random(3);
        try (RandomAccessFile file = new RandomAccessFile(raw.toFile(), "rw")) {
            file.setLength(10_000_000);
            for (long at : new long[] {5 * 65536, 5 * 65536 + 70000, 4_000_000, 9_999_000}) {
                byte[] data = new byte[1000];
                random.nextBytes(data);
                file.seek(at);
                file.write(data);
            }
        }
        bothOutputs("-O", "qcow2", raw.toString());
        bothOutputs("-f", "raw", "-O", "qcow2", "-o", "cluster_size=512", raw.toString());
        bothOutputs("-O", "raw", raw.toString());
    }

    @Test
    void errorsLikeQemu() throws Exception {
        Path image = dir.resolve("e.qcow2");
        qemuOk("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "1M");
        assertSameAsQemu();
        assertSameAsQemu("--size", "1G", image.toString());
        assertSameAsQemu("-O", "vmdk", "--size", "1G");
        assertSameAsQemu("--size", "1Q");
        assertSameAsQemu("-O", "qcow2", dir.resolve("nope").toString());
        assertSameAsQemu("-O", "qcow2", "-o", "cluster_size=512", "--size", "1T");
        assertSameAsQemu("-O", "qcow2", "-o", "bogus=1", "--size", "1G");
        assertSameAsQemu("--output=xml", "--size", "1G");
    }
}
