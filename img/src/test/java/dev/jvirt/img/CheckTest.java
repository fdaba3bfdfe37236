package dev.jvirt.img;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Path;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.qemu;
import static dev.jvirt.img.QemuImg.qemuIo;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** jvirt-img check agrees with qemu-img check: same JSON, same exit codes, repairs qemu-img accepts. */
class CheckTest {

    @TempDir
    Path dir;
    private final ObjectMapper json = new ObjectMapper();

    @BeforeEach
    void needQemu() {
        assumeTrue(QemuImg.available(), "qemu-utils not installed; scripts/setup installs it");
    }

    private Path imageWithData(String name, String... createOptions) throws Exception {
        Path image = dir.resolve(name);
        String[] create = new String[6 + createOptions.length];
        create[0] = "qemu-img";
        create[1] = "create";
        create[2] = "-q";
        create[3] = "-f";
        create[4] = "qcow2";
        System.arraycopy(createOptions, 0, create, 5, createOptions.length);
        create[create.length - 1] = image.toString();
        qemuOk(concat(create, "64M"));
        qemuIo(image, "qcow2", "write -P 1 0 1M", "write -P 2 10M 64k", "write -z 20M 128k");
        return image;
    }

    private static String[] concat(String[] a, String b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + 1);
        all[a.length] = b;
        return all;
    }

    private void assertSameAsQemu(Path image) throws Exception {
        QemuImg.Result theirs = qemu("qemu-img", "check", "--output=json", image.toString());
        QemuImg.Result ours = jvirt("check", "--output=json", image.toString());
        assertEquals(json.readTree(theirs.stdout()), json.readTree(ours.stdout()), image.getFileName().toString());
        assertEquals(theirs.status(), ours.status(), "exit code for " + image.getFileName());
    }

    /** Sets the stored refcount of host cluster {@code cluster} (16-bit refcounts, first refcount block). */
    private static void setRefcount(Path image, long cluster, int value) throws Exception {
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.seek(48);
            long table = file.readLong();
            file.seek(table);
            long block = file.readLong();
            file.seek(block + cluster * 2);
            file.writeShort(value);
        }
    }

    @Test
    void cleanImagesReportLikeQemu() throws Exception {
        assertSameAsQemu(imageWithData("plain.qcow2"));
        assertSameAsQemu(imageWithData("small-clusters.qcow2", "-o", "cluster_size=512"));
        Path compressed = dir.resolve("compressed.qcow2");
        qemuOk("qemu-img", "convert", "-c", "-O", "qcow2", imageWithData("src.qcow2").toString(), compressed.toString());
        assertSameAsQemu(compressed);
        Path snapshots = imageWithData("snap.qcow2");
        qemuOk("qemu-img", "snapshot", "-c", "first", snapshots.toString());
        qemuIo(snapshots, "qcow2", "write -P 9 0 256k");
        assertSameAsQemu(snapshots);
    }

    @Test
    void leaksAndCorruptionsAreFoundAndRepaired() throws Exception {
        Path leaky = imageWithData("leaky.qcow2");
        long end;
        try (RandomAccessFile file = new RandomAccessFile(leaky.toFile(), "rw")) {
            end = file.length();
            file.setLength(end + 65536); // a cluster that is counted but used by nothing
        }
        setRefcount(leaky, end / 65536, 1);
        assertSameAsQemu(leaky);
        assertEquals(3, jvirt("check", leaky.toString()).status());
        QemuImg.Result repaired = jvirt("check", "-r", "leaks", leaky.toString());
        assertEquals(0, repaired.status(), repaired.stdout() + repaired.stderr());
        assertEquals(0, qemu("qemu-img", "check", leaky.toString()).status(), "qemu-img agrees the leak is gone");

        Path corrupt = imageWithData("corrupt.qcow2");
        setRefcount(corrupt, 5, 0); // a data cluster in use with refcount 0
        assertSameAsQemu(corrupt);
        assertEquals(2, jvirt("check", corrupt.toString()).status());
        assertEquals(2, jvirt("check", "-r", "leaks", corrupt.toString()).status(), "-r leaks leaves corruptions alone");
        assertEquals(0, jvirt("check", "-r", "all", corrupt.toString()).status());
        assertEquals(0, qemu("qemu-img", "check", corrupt.toString()).status());
    }
}
