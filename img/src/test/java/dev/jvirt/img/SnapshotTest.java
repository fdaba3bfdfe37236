package dev.jvirt.img;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.jvirtOk;
import static dev.jvirt.img.QemuImg.qemu;
import static dev.jvirt.img.QemuImg.qemuIo;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * jvirt-img snapshot against the real qemu-img: snapshots we take are listed, checked and read by
 * qemu-img (convert -l reads a snapshot through QEMU's own code); snapshots qemu-img takes are
 * listed by us exactly as qemu-img lists them, applied and deleted by us with qemu-img check
 * finding no error and no leak; errors carry qemu-img's words and exit status.
 */
class SnapshotTest {

    @TempDir
    Path dir;
    private final ObjectMapper json = new ObjectMapper();
    private int outputs;

    @BeforeEach
    void needQemu() {
        assumeTrue(QemuImg.available(), "qemu-utils not installed; scripts/setup installs it");
    }

    private Path image(String name, String size, String... createOptions) throws Exception {
        Path image = dir.resolve(name);
        String[] command = new String[6 + createOptions.length + 1];
        System.arraycopy(new String[] {"qemu-img", "create", "-q", "-f", "qcow2"}, 0, command, 0, 5);
        System.arraycopy(createOptions, 0, command, 5, createOptions.length);
        command[command.length - 2] = image.toString();
        command[command.length - 1] = size;
        qemuOk(command);
        return image;
    }

    /** The guest's view of the image (or of one of its snapshots), as qemu-img convert reads it. */
    private byte[] raw(Path image, String snapshot) throws Exception {
        Path out = dir.resolve("out-" + ++outputs + ".raw");
        if (snapshot == null) {
            qemuOk("qemu-img", "convert", "-O", "raw", image.toString(), out.toString());
        } else {
            qemuOk("qemu-img", "convert", "-l", snapshot, "-O", "raw", image.toString(), out.toString());
        }
        byte[] bytes = Files.readAllBytes(out);
        Files.delete(out);
        return bytes;
    }

    /** qemu-img check finds neither corruption nor leak. */
    private void assertClean(Path image) throws Exception {
        QemuImg.Result check = qemu("qemu-img", "check", image.toString());
        assertEquals(0, check.status(), check.stdout() + check.stderr());
        assertTrue(check.stdout().startsWith("No errors were found on the image."), check.stdout());
    }

    private static String withoutProgram(String stderr) {
        return stderr.lines().filter(line -> !line.startsWith("WARNING") && !line.startsWith(" "))
                .map(line -> line.replaceFirst("^(qemu-img|jvirt-img): ", "")).reduce("", (a, b) -> a + b + "\n");
    }

    @Test
    void snapshotsWeTakeAreListedCheckedAndReadByQemu() throws Exception {
        Path image = image("ours.qcow2", "64M");
        qemuIo(image, "qcow2", "write -P 1 0 1M", "write -c -P 2 4M 128k", "write -z 8M 256k", "write -P 3 30M 64k");
        byte[] first = raw(image, null);
        jvirtOk("snapshot", "-c", "first", image.toString());
        assertClean(image);

        qemuIo(image, "qcow2", "write -P 4 512k 1M", "write -P 5 4M 64k", "write -z 30M 64k", "write -P 6 40M 64k");
        byte[] second = raw(image, null);
        assertFalse(Arrays.equals(first, second));
        jvirtOk("snapshot", "-c", "second", image.toString());
        assertClean(image);

        // Our own driver's copy-on-write must leave both snapshots alone too.
        byte[] pattern = new byte[3 * 65536 + 1000];
        Arrays.fill(pattern, (byte) 7);
        try (BlockDriver disk = Images.open(image, OpenOptions.forWriting())) {
            disk.write(100_000, pattern, 0, pattern.length);
            disk.write(4L << 20, pattern, 0, 512);
        }
        byte[] current = second.clone();
        System.arraycopy(pattern, 0, current, 100_000, pattern.length);
        System.arraycopy(pattern, 0, current, 4 << 20, 512);
        assertClean(image);

        String list = qemuOk("qemu-img", "snapshot", "-l", image.toString()).stdout();
        assertTrue(list.lines().anyMatch(line -> line.matches("1 +first +0 B .*")), list);
        assertTrue(list.lines().anyMatch(line -> line.matches("2 +second +0 B .*")), list);
        assertArrayEquals(first, raw(image, "first"));
        assertArrayEquals(first, raw(image, "1"));
        assertArrayEquals(second, raw(image, "second"));
        assertArrayEquals(current, raw(image, null));
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"compat=0.10,cluster_size=512", "refcount_bits=8,cluster_size=4096",
            "refcount_bits=64,cluster_size=2097152"})
    void otherLayoutsWork(String options) throws Exception {
        Path image = image("layout.qcow2", "64M", "-o", options);
        qemuIo(image, "qcow2", "write -P 1 0 3M", "write -P 2 40M 64k");
        byte[] first = raw(image, null);
        jvirtOk("snapshot", "-c", "first", image.toString());
        assertClean(image);
        qemuIo(image, "qcow2", "write -P 3 1M 3M");
        byte[] second = raw(image, null);
        jvirtOk("snapshot", "-c", "second", image.toString());
        jvirtOk("snapshot", "-a", "first", image.toString());
        assertClean(image);
        assertArrayEquals(first, raw(image, null));
        assertArrayEquals(second, raw(image, "second"));
        jvirtOk("snapshot", "-d", "first", image.toString());
        assertClean(image);
        assertEquals(json.readTree(qemu("qemu-img", "check", "--output=json", image.toString()).stdout()),
                json.readTree(jvirt("check", "--output=json", image.toString()).stdout()));
        assertArrayEquals(first, raw(image, null));
        assertArrayEquals(second, raw(image, "second"));
    }

    @Test
    void repeatedSnapshotOperationsDoNotKeepGrowingTheFile() throws Exception {
        Path image = image("cycles.qcow2", "64M");
        qemuIo(image, "qcow2", "write -P 1 0 3M");
        long[] sizes = new long[6];
        for (int i = 0; i < sizes.length; i++) {
            jvirtOk("snapshot", "-c", "s", image.toString());
            jvirtOk("snapshot", "-a", "s", image.toString());
            jvirtOk("snapshot", "-d", "s", image.toString());
            sizes[i] = Files.size(image);
        }
        assertEquals(sizes[1], sizes[sizes.length - 1], Arrays.toString(sizes));
        assertClean(image);
    }

    @Test
    void qemuAppliesAndDeletesSnapshotsWeTook() throws Exception {
        Path image = image("mixed.qcow2", "16M", "-o", "cluster_size=4096");
        qemuIo(image, "qcow2", "write -P 1 0 2M");
        byte[] before = raw(image, null);
        jvirtOk("snapshot", "-c", "ours", image.toString());
        qemuIo(image, "qcow2", "write -P 2 1M 2M");
        qemuOk("qemu-img", "snapshot", "-a", "ours", image.toString());
        assertArrayEquals(before, raw(image, null));
        assertClean(image);
        qemuOk("qemu-img", "snapshot", "-d", "ours", image.toString());
        assertClean(image);
        assertArrayEquals(before, raw(image, null));
    }

    @Test
    void listAndInfoAreQemuImgsToTheByte() throws Exception {
        Path image = image("listed.qcow2", "64M");
        qemuIo(image, "qcow2", "write -P 1 0 1M");
        for (String name : new String[] {"first", "first", "a much longer snapshot name than the column", "ünïcödé", "", "1"}) {
            qemuOk("qemu-img", "snapshot", "-c", name, image.toString());
        }
        jvirtOk("snapshot", "-c", "ours", image.toString());
        assertEquals(qemuOk("qemu-img", "snapshot", "-l", image.toString()).stdout(), jvirtOk("snapshot", "-l", image.toString()).stdout());
        assertEquals(qemuOk("qemu-img", "info", image.toString()).stdout(), jvirtOk("info", image.toString()).stdout());
        String theirs = qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout();
        String ours = jvirtOk("info", "--output=json", image.toString()).stdout();
        assertEquals(json.readTree(theirs), json.readTree(ours));
        assertEquals(theirs, ours);
        JsonNode snapshots = json.readTree(ours).get("snapshots");
        assertEquals(7, snapshots.size());
        assertEquals("ours", snapshots.get(6).get("name").asText());

        Path empty = image("empty.qcow2", "1M");
        assertEquals("", jvirtOk("snapshot", "-l", empty.toString()).stdout());
        assertFalse(json.readTree(jvirtOk("info", "--output=json", empty.toString()).stdout()).has("snapshots"));
    }

    @Test
    void applyingRestoresTheContentAndCheckStaysClean() throws Exception {
        Path image = image("applied.qcow2", "64M");
        qemuIo(image, "qcow2", "write -P 1 0 1M", "write -c -P 2 2M 64k");
        byte[] one = raw(image, null);
        qemuOk("qemu-img", "snapshot", "-c", "one", image.toString());
        qemuIo(image, "qcow2", "write -P 3 512k 1M", "write -z 2M 64k", "write -P 4 50M 1M");
        byte[] two = raw(image, null);
        qemuOk("qemu-img", "snapshot", "-c", "two", image.toString());
        qemuIo(image, "qcow2", "write -P 5 0 4M");

        jvirtOk("snapshot", "-a", "one", image.toString());
        assertArrayEquals(one, raw(image, null));
        assertClean(image);
        qemuIo(image, "qcow2", "write -P 6 0 64k"); // the restored clusters are shared: this must copy
        assertArrayEquals(one, raw(image, "one"));
        assertClean(image);

        jvirtOk("snapshot", "-a", "2", image.toString()); // by ID
        assertArrayEquals(two, raw(image, null));
        assertClean(image);
        assertArrayEquals(one, raw(image, "one"));
    }

    @Test
    void applyingFollowsTheSnapshotsDiskSize() throws Exception {
        Path image = image("sized.qcow2", "64M");
        qemuIo(image, "qcow2", "write -P 1 0 1M");
        qemuOk("qemu-img", "snapshot", "-c", "small", image.toString());
        qemuOk("qemu-img", "resize", "-q", image.toString(), "1G");
        qemuIo(image, "qcow2", "write -P 2 900M 1M");
        Path theirs = dir.resolve("sized-theirs.qcow2");
        Files.copy(image, theirs);
        qemuOk("qemu-img", "snapshot", "-a", "small", theirs.toString());
        jvirtOk("snapshot", "-a", "small", image.toString());
        assertEquals(64L << 20, json.readTree(qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout())
                .get("virtual-size").asLong());
        assertClean(image);
        assertArrayEquals(raw(theirs, null), raw(image, null));
    }

    @Test
    void deletingLeavesNoLeaks() throws Exception {
        Path image = image("deleted.qcow2", "64M", "-o", "cluster_size=65536");
        qemuIo(image, "qcow2", "write -P 1 0 2M");
        qemuOk("qemu-img", "snapshot", "-c", "a", image.toString());
        qemuIo(image, "qcow2", "write -P 2 1M 2M", "write -c -P 7 10M 64k");
        byte[] b = raw(image, null);
        qemuOk("qemu-img", "snapshot", "-c", "b", image.toString());
        qemuIo(image, "qcow2", "write -P 3 0 4M");
        jvirtOk("snapshot", "-c", "c", image.toString());
        qemuIo(image, "qcow2", "write -P 4 20M 1M");
        byte[] current = raw(image, null);

        jvirtOk("snapshot", "-d", "a", image.toString());
        assertClean(image);
        String list = qemuOk("qemu-img", "snapshot", "-l", image.toString()).stdout();
        assertFalse(list.lines().anyMatch(line -> line.matches("1 +a .*")), list);
        assertArrayEquals(b, raw(image, "b"));
        jvirtOk("snapshot", "-d", "b", image.toString());
        jvirtOk("snapshot", "-d", "c", image.toString());
        assertClean(image);
        assertEquals("", qemuOk("qemu-img", "snapshot", "-l", image.toString()).stdout());
        assertArrayEquals(current, raw(image, null));
        // Nothing shared any more: every cluster is written in place again (COPIED set, refcount 1).
        qemuIo(image, "qcow2", "write -P 5 0 64k");
        assertClean(image);
    }

    @Test
    void lookupsFollowQemuImg() throws Exception {
        // -a looks for an ID first, then a name; qemu-img 7.2's -d only for a name.
        Path image = image("lookup.qcow2", "1M");
        qemuIo(image, "qcow2", "write -P 1 0 64k");
        qemuOk("qemu-img", "snapshot", "-c", "2", image.toString());  // ID 1, named "2"
        qemuIo(image, "qcow2", "write -P 2 0 64k");
        qemuOk("qemu-img", "snapshot", "-c", "x", image.toString());  // ID 2
        Path theirs = dir.resolve("lookup-theirs.qcow2");
        Files.copy(image, theirs);
        qemuIo(image, "qcow2", "write -P 3 0 64k");
        qemuIo(theirs, "qcow2", "write -P 3 0 64k");
        jvirtOk("snapshot", "-a", "2", image.toString());
        qemuOk("qemu-img", "snapshot", "-a", "2", theirs.toString());
        assertArrayEquals(raw(theirs, null), raw(image, null));
        jvirtOk("snapshot", "-d", "2", image.toString());
        qemuOk("qemu-img", "snapshot", "-d", "2", theirs.toString());
        assertEquals(qemuOk("qemu-img", "snapshot", "-l", theirs.toString()).stdout(), jvirtOk("snapshot", "-l", image.toString()).stdout());
        QemuImg.Result q = qemu("qemu-img", "snapshot", "-d", "2", theirs.toString());
        QemuImg.Result j = jvirt("snapshot", "-d", "2", image.toString());
        assertEquals(1, q.status());
        assertEquals(q.status(), j.status());
        assertEquals(withoutProgram(q.stderr()), withoutProgram(j.stderr()));
    }

    @Test
    void convertReadsASnapshotAsQemuImgDoes() throws Exception {
        Path image = image("convert.qcow2", "64M", "-o", "cluster_size=4096");
        qemuIo(image, "qcow2", "write -P 1 0 1M", "write -c -P 2 2M 64k");
        qemuOk("qemu-img", "snapshot", "-c", "2", image.toString());   // ID 1, named "2"
        qemuIo(image, "qcow2", "write -P 3 512k 1M");
        jvirtOk("snapshot", "-c", "later", image.toString());          // ID 2
        qemuOk("qemu-img", "resize", "-q", image.toString(), "100M");  // the snapshots' L1 tables are shorter now
        qemuIo(image, "qcow2", "write -P 4 80M 64k");
        for (String param : new String[] {"2", "1", "later", "snapshot.name=later", "snapshot.id=1", "snapshot.id=2,snapshot.name=later"}) {
            Path ours = dir.resolve("ours-" + ++outputs + ".raw");
            jvirtOk("convert", "-l", param, "-O", "raw", image.toString(), ours.toString());
            assertArrayEquals(raw(image, param), Files.readAllBytes(ours), param);
            Files.delete(ours);
        }
        Path raw = dir.resolve("plain.raw");
        qemuOk("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "1M");
        for (String[] args : new String[][] {{"nope", image.toString()}, {"snapshot.id=1,snapshot.name=later", image.toString()},
                                             {"snapshot.id=1,foo=2", image.toString()}, {"x", raw.toString()}}) {
            Path target = dir.resolve("never.raw");
            QemuImg.Result q = qemu("qemu-img", "convert", "-l", args[0], "-O", "raw", args[1], target.toString());
            QemuImg.Result j = jvirt("convert", "-l", args[0], "-O", "raw", args[1], target.toString());
            assertEquals(1, q.status());
            assertEquals(q.status(), j.status(), args[0]);
            assertEquals(withoutProgram(q.stderr()).lines().findFirst(), withoutProgram(j.stderr()).lines().findFirst(), args[0]);
        }
    }

    @Test
    void errorsCarryQemuImgsWordsAndStatus() throws Exception {
        Path image = image("errors.qcow2", "1M");
        Path raw = dir.resolve("disk.raw");
        qemuOk("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "1M");
        String[][] cases = {
            {"-a", "nope", image.toString()},
            {"-d", "nope", image.toString()},
            {"-l", raw.toString()},
            {"-c", "x", raw.toString()},
            {"-a", "x", raw.toString()},
            {"-d", "x", raw.toString()},
            {"-l", "-c", "x", image.toString()},
            {image.toString()},
        };
        for (String[] args : cases) {
            String[] qemuArgs = new String[args.length + 2];
            qemuArgs[0] = "qemu-img";
            qemuArgs[1] = "snapshot";
            System.arraycopy(args, 0, qemuArgs, 2, args.length);
            String[] jvirtArgs = Arrays.copyOfRange(qemuArgs, 1, qemuArgs.length);
            QemuImg.Result q = qemu(qemuArgs);
            QemuImg.Result j = jvirt(jvirtArgs);
            String what = String.join(" ", jvirtArgs);
            assertEquals(q.status(), j.status(), what + ": " + j.stderr());
            assertEquals(q.stdout(), j.stdout(), what);
            assertEquals(withoutProgram(q.stderr()).lines().findFirst().orElse(""), withoutProgram(j.stderr()).lines().findFirst().orElse(""), what);
        }
        assertEquals("", qemuOk("qemu-img", "snapshot", "-l", image.toString()).stdout());
        assertClean(image);
    }

    @Test
    void hostileSnapshotTablesAreRefusedAndTheFileIsLeftAlone() throws Exception {
        Path original = image("hostile.qcow2", "16M");
        qemuIo(original, "qcow2", "write -P 1 0 1M");
        qemuOk("qemu-img", "snapshot", "-c", "one", original.toString());
        long table;
        try (RandomAccessFile file = new RandomAccessFile(original.toFile(), "r")) {
            file.seek(64);
            table = file.readLong();
        }
        Object[][] lies = {
            // field offset, value, size, what the refusal says
            {64L, 1L << 40, 8, "snapshot table at 0x10000000000 extends past the end of the file"},
            {64L, table + 8, 8, "not cluster aligned"},
            {60L, 0x0010_0000L, 4, "snapshot count 1048576 is invalid"},
            {60L, 5000L, 4, "extends past the end of the file"},
            {table + 8, 0x7FFF_FFFFL, 4, "L1 table size 2147483647 is too large"},
            {table, 1L << 40, 8, "L1 table at 0x10000000000 extends past the end of the file"},
            {table, 65536L + 8, 8, "L1 table offset 0x10008 is not cluster aligned"},
            {table + 36, 0x0001_0000L, 4, "too much extra metadata in snapshot table entry 0 (65536 > 1024 bytes)"},
            {table + 12, 0xFFFFL, 2, "snapshot table entry 0 at 0x" + Long.toHexString(table + 40) + " extends past the end of the file"},
        };
        int n = 0;
        for (Object[] lie : lies) {
            Path image = dir.resolve("lie-" + ++n + ".qcow2");
            Files.copy(original, image);
            try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
                file.seek((Long) lie[0]);
                long value = (Long) lie[1];
                switch ((Integer) lie[2]) {
                    case 2 -> file.writeShort((int) value);
                    case 4 -> file.writeInt((int) value);
                    default -> file.writeLong(value);
                }
            }
            byte[] before = Files.readAllBytes(image);
            for (String[] args : new String[][] {{"-l"}, {"-c", "two"}, {"-a", "one"}, {"-d", "one"}}) {
                String[] command = new String[args.length + 2];
                command[0] = "snapshot";
                System.arraycopy(args, 0, command, 1, args.length);
                command[command.length - 1] = image.toString();
                QemuImg.Result result = jvirt(command);
                String what = lie[3] + " / " + String.join(" ", command);
                assertEquals(1, result.status(), what);
                assertTrue(result.stderr().contains((String) lie[3]), what + ": " + result.stderr());
                assertEquals(1, result.stderr().lines().count(), what + ": " + result.stderr());
            }
            QemuImg.Result info = jvirt("info", "--output=json", image.toString());
            assertEquals(1, info.status(), (String) lie[3]);
            assertArrayEquals(before, Files.readAllBytes(image), (String) lie[3]);
        }
    }
}
