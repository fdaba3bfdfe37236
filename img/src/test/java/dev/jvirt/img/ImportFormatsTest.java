package dev.jvirt.img;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.jvirt.img.QemuImg.jvirt;
import static dev.jvirt.img.QemuImg.jvirtOk;
import static dev.jvirt.img.QemuImg.qemu;
import static dev.jvirt.img.QemuImg.qemuOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Guests from other hypervisors: images the real qemu-img writes in VMware's, VirtualBox's and
 * Microsoft's formats are converted, described, probed, mapped, compared and checked by
 * jvirt-img exactly as qemu-img does it.
 */
class ImportFormatsTest {

    /** Not a whole number of grains, blocks or CHS cylinders, so every format's rounding shows. */
    private static final int DISK = (5 << 20) + 7 * 512;

    /** One image kind: how qemu-img writes it, and whether opening it needs -f (fixed VHD probes as raw). */
    enum Kind {
        VMDK_MONOLITHIC_SPARSE("vmdk", false, true, "-o", "subformat=monolithicSparse"),
        VMDK_STREAM_OPTIMIZED("vmdk", false, true, "-o", "subformat=streamOptimized"),
        VMDK_MONOLITHIC_FLAT("vmdk", false, false, "-o", "subformat=monolithicFlat"),
        VDI_DYNAMIC("vdi", false, true),
        VDI_STATIC("vdi", false, false, "-o", "static=on"),
        VPC_DYNAMIC("vpc", false, true, "-o", "subformat=dynamic"),
        VPC_FIXED("vpc", true, false, "-o", "subformat=fixed");

        final String format;
        final boolean needsFormatOption;
        /** Whether qemu-img map's output depends only on the format (not on holes in the file system, which it follows for flat data). */
        final boolean mapIsFormatOnly;
        final String[] options;

        Kind(String format, boolean needsFormatOption, boolean mapIsFormatOnly, String... options) {
            this.format = format;
            this.needsFormatOption = needsFormatOption;
            this.mapIsFormatOnly = mapIsFormatOnly;
            this.options = options;
        }
    }

    @TempDir
    Path dir;
    private Path source;
    private byte[] sourceBytes;
    private final ObjectMapper json = new ObjectMapper();

    @BeforeEach
    void makeSourceWithDataAndHoles() throws Exception {
        assumeTrue(QemuImg.available(), "qemu-img/qemu-io (qemu-utils) not installed; scripts/setup installs them");
        sourceBytes = new byte[DISK];
        Random random = new Random(2026);
        // Data at odd offsets, inside and across grain/block boundaries, a long zero region from
        // 1.5 MiB to 3 MiB, and the last sector written.
        int[][] runs = {{1234, 5000}, {70_001, 300_000}, {(1 << 20) + 17, 4096}, {(3 << 20) - 100, 200_000}, {(4 << 20) + 511, 1}};
        for (int[] run : runs) {
            for (int i = 0; i < run[1]; i++) {
                sourceBytes[run[0] + i] = (byte) (1 + random.nextInt(255));
            }
        }
        Arrays.fill(sourceBytes, DISK - 512, DISK, (byte) 0xee);
        source = dir.resolve("source.raw");
        Files.write(source, sourceBytes);
    }

    private Path qemuImage(Kind kind) throws Exception {
        Path image = dir.resolve(kind.name().toLowerCase() + "." + kind.format);
        List<String> command = new ArrayList<>(List.of("qemu-img", "convert", "-f", "raw", "-O", kind.format));
        command.addAll(List.of(kind.options));
        command.addAll(List.of(source.toString(), image.toString()));
        qemuOk(command.toArray(String[]::new));
        return image;
    }

    /** The arguments of a command, with "-f format" first when the kind needs it (and for jvirt, always when asked). */
    private static String[] args(Kind kind, boolean withFormat, String... rest) {
        List<String> all = new ArrayList<>();
        all.add(rest[0]);
        if (withFormat) {
            all.addAll(List.of("-f", kind.format));
        }
        all.addAll(List.of(rest).subList(1, rest.length));
        return all.toArray(String[]::new);
    }

    private static String[] qemuArgs(String... args) {
        String[] command = new String[args.length + 1];
        command[0] = "qemu-img";
        System.arraycopy(args, 0, command, 1, args.length);
        return command;
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void convertsToRawByteForByteAsQemuImg(Kind kind) throws Exception {
        Path image = qemuImage(kind);
        byte[] imageBefore = Files.readAllBytes(image);
        Path ours = dir.resolve("ours.raw");
        Path theirs = dir.resolve("theirs.raw");
        jvirtOk(args(kind, kind.needsFormatOption, "convert", "-O", "raw", image.toString(), ours.toString()));
        qemuOk(qemuArgs(args(kind, kind.needsFormatOption, "convert", "-O", "raw", image.toString(), theirs.toString())));
        byte[] converted = Files.readAllBytes(ours);
        assertArrayEquals(Files.readAllBytes(theirs), converted, "jvirt-img and qemu-img convert -O raw agree");
        // VHD rounds the size up to its CHS geometry; the rest is the source, then zeroes.
        assertTrue(converted.length >= DISK);
        assertArrayEquals(sourceBytes, Arrays.copyOf(converted, DISK));
        assertTrue(isZero(Arrays.copyOfRange(converted, DISK, converted.length)));
        // Holes stay holes: the zero region was never written to the raw target.
        assertTrue(ImageInfo.allocatedBytes(ours) < DISK / 2, "sparse output: " + ImageInfo.allocatedBytes(ours));
        assertArrayEquals(imageBefore, Files.readAllBytes(image), "reading never writes");
        // And to qcow2, then back through qemu-img.
        Path qcow2 = dir.resolve("ours.qcow2");
        jvirtOk(args(kind, kind.needsFormatOption, "convert", "-O", "qcow2", image.toString(), qcow2.toString()));
        Path back = dir.resolve("back.raw");
        qemuOk("qemu-img", "convert", "-O", "raw", qcow2.toString(), back.toString());
        assertArrayEquals(converted, Files.readAllBytes(back));
    }

    private static boolean isZero(byte[] bytes) {
        for (byte b : bytes) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void infoAgreesWithQemuImg(Kind kind) throws Exception {
        Path image = qemuImage(kind);
        JsonNode theirs = json.readTree(qemuOk(qemuArgs(args(kind, true, "info", "--output=json", image.toString()))).stdout());
        JsonNode ours = json.readTree(jvirtOk(args(kind, true, "info", "--output=json", image.toString())).stdout());
        assertEquals(kind.format, ours.get("format").asText());
        assertEquals(theirs.get("virtual-size"), ours.get("virtual-size"));
        assertEquals(theirs.get("format"), ours.get("format"));
        // Everything else too (cluster size, vmdk create type, CID and extents), except the disk usage.
        ((ObjectNode) theirs).remove("actual-size");
        ((ObjectNode) ours).remove("actual-size");
        assertEquals(theirs, ours);
        String human = jvirtOk(args(kind, true, "info", image.toString())).stdout();
        assertTrue(human.contains("file format: " + kind.format + "\n"), human);
        String theirHuman = qemuOk(qemuArgs(args(kind, true, "info", image.toString()))).stdout();
        assertEquals(withoutDiskSize(theirHuman), withoutDiskSize(human));
    }

    private static String withoutDiskSize(String human) {
        return human.replaceAll("(?m)^disk size: .*\n", "");
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void probingWithoutFormatAgreesWithQemuImg(Kind kind) throws Exception {
        Path image = qemuImage(kind);
        JsonNode theirs = json.readTree(qemuOk("qemu-img", "info", "--output=json", image.toString()).stdout());
        JsonNode ours = json.readTree(jvirtOk("info", "--output=json", image.toString()).stdout());
        assertEquals(theirs.get("format"), ours.get("format"));
        assertEquals(theirs.get("virtual-size"), ours.get("virtual-size"));
        assertEquals(kind.needsFormatOption ? "raw" : kind.format, ours.get("format").asText(), "a fixed VHD probes as raw, as in qemu-img");
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void mapCompareAndCheckAgreeWithQemuImg(Kind kind) throws Exception {
        Path image = qemuImage(kind);
        if (kind.mapIsFormatOnly) {
            String theirs = qemuOk(qemuArgs(args(kind, true, "map", "--output=json", image.toString()))).stdout();
            String ours = jvirtOk(args(kind, true, "map", "--output=json", image.toString())).stdout();
            assertEquals(theirs, ours);
        }
        QemuImg.Result theirCompare = qemu("qemu-img", "compare", "-f", "raw", "-F", kind.format, source.toString(), image.toString());
        QemuImg.Result ourCompare = jvirt("compare", "-f", "raw", "-F", kind.format, source.toString(), image.toString());
        assertEquals(theirCompare.status(), ourCompare.status(), ourCompare.stderr());
        assertEquals(theirCompare.stdout(), ourCompare.stdout());
        // vdi and vmdk have a check in qemu-img, vpc does not (exit 63).
        for (String output : new String[] {"--output=human", "--output=json"}) {
            QemuImg.Result theirCheck = qemu(qemuArgs(args(kind, true, "check", output, image.toString())));
            QemuImg.Result ourCheck = jvirt(args(kind, true, "check", output, image.toString()));
            assertEquals(theirCheck.status(), ourCheck.status(), ourCheck.stderr());
            assertEquals(theirCheck.stdout(), ourCheck.stdout());
            assertEquals(theirCheck.stderr().replace("qemu-img:", "jvirt-img:"), ourCheck.stderr());
        }
    }

    // ---- refusals -----------------------------------------------------------------------------

    /** jvirt-img refuses the image with a message containing {@code expected}, and leaves the file as it was. */
    private void refused(Path image, String format, String expected) throws Exception {
        byte[] before = Files.readAllBytes(image);
        QemuImg.Result result = jvirt("convert", "-f", format, "-O", "raw", image.toString(), dir.resolve("out.raw").toString());
        assertEquals(1, result.status(), result.stdout());
        assertTrue(result.stderr().contains(expected), result.stderr());
        assertTrue(result.stderr().contains(image.toString()), "the message names the file: " + result.stderr());
        assertArrayEquals(before, Files.readAllBytes(image), "a refused image is not modified");
    }

    private static void patch(Path image, long offset, long value, int width, ByteOrder order) throws Exception {
        byte[] bytes = Files.readAllBytes(image);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(order);
        switch (width) {
            case 8 -> b.putLong((int) offset, value);
            case 4 -> b.putInt((int) offset, (int) value);
            default -> b.put((int) offset, (byte) value);
        }
        Files.write(image, bytes);
    }

    @Test
    void truncatedImagesAreRefused() throws Exception {
        for (Kind kind : new Kind[] {Kind.VMDK_MONOLITHIC_SPARSE, Kind.VMDK_STREAM_OPTIMIZED, Kind.VDI_DYNAMIC, Kind.VDI_STATIC,
                Kind.VPC_DYNAMIC, Kind.VPC_FIXED}) {
            Path image = qemuImage(kind);
            byte[] whole = Files.readAllBytes(image);
            // Cut into the last data block; a fixed VHD loses its head instead, keeping its footer.
            byte[] cut = kind == Kind.VPC_FIXED ? Arrays.copyOfRange(whole, 1 << 20, whole.length)
                    : Arrays.copyOf(whole, whole.length - Math.min(whole.length / 4, 1 << 20));
            Files.write(image, cut);
            byte[] before = Files.readAllBytes(image);
            QemuImg.Result result = jvirt(args(kind, true, "convert", "-O", "raw", image.toString(), dir.resolve("out.raw").toString()));
            assertEquals(1, result.status(), kind + " " + result.stdout());
            assertTrue(result.stderr().contains("truncated") || result.stderr().contains("Invalid footer"), kind + ": " + result.stderr());
            assertArrayEquals(before, Files.readAllBytes(image));
        }
    }

    @Test
    void hostileHeadersAreRefusedWithTheReason() throws Exception {
        Path sparse = qemuImage(Kind.VMDK_MONOLITHIC_SPARSE);
        patch(sparse, 56, 1L << 40, 8, ByteOrder.LITTLE_ENDIAN);
        refused(sparse, "vmdk", "VMDK grain directory at offset 0x2000000000000");

        Path capacity = qemuImage(Kind.VMDK_STREAM_OPTIMIZED);
        patch(capacity, 12, 1L << 50, 8, ByteOrder.LITTLE_ENDIAN);
        refused(capacity, "vmdk", "capacity of 1125899906842624 sectors is absurd");

        Path vdiSize = qemuImage(Kind.VDI_DYNAMIC);
        patch(vdiSize, 0x170, 1L << 60, 8, ByteOrder.LITTLE_ENDIAN);
        refused(vdiSize, "vdi", "image bitmap has room for");

        Path vdiMap = qemuImage(Kind.VDI_STATIC);
        patch(vdiMap, 0x154, 0x7fff_0000L, 4, ByteOrder.LITTLE_ENDIAN);
        refused(vdiMap, "vdi", "VDI block map at offset 0x7fff0000");

        Path vhd = qemuImage(Kind.VPC_DYNAMIC);
        patch(vhd, 40, 0x55, 1, ByteOrder.BIG_ENDIAN);
        refused(vhd, "vpc", "incorrect VHD footer checksum");

        Path fixed = qemuImage(Kind.VPC_FIXED);
        patch(fixed, Files.size(fixed) - 512 + 60, 4, 4, ByteOrder.BIG_ENDIAN);
        refused(fixed, "vpc", "incorrect VHD footer checksum");
    }

    @Test
    void importFormatsAreNeverWritten() throws Exception {
        Path vdi = qemuImage(Kind.VDI_DYNAMIC);
        byte[] before = Files.readAllBytes(vdi);
        QemuImg.Result toVmdk = jvirt("convert", "-O", "vmdk", source.toString(), dir.resolve("x.vmdk").toString());
        assertEquals(1, toVmdk.status());
        assertTrue(toVmdk.stderr().contains("Writing vmdk images is not supported"), toVmdk.stderr());
        QemuImg.Result create = jvirt("create", "-f", "vpc", dir.resolve("x.vhd").toString(), "1M");
        assertEquals(1, create.status());
        assertTrue(create.stderr().contains("Creating vpc images is not supported"), create.stderr());
        QemuImg.Result resize = jvirt("resize", vdi.toString(), "10M");
        assertEquals(1, resize.status());
        assertTrue(resize.stderr().contains("Image format 'vdi' does not support resizing"), resize.stderr());
        QemuImg.Result repair = jvirt("check", "-r", "all", vdi.toString());
        assertEquals(qemu("qemu-img", "check", "-r", "all", vdi.toString()).status(), repair.status());
        assertTrue(repair.stderr().contains("This image format does not support checks"), repair.stderr());
        assertArrayEquals(before, Files.readAllBytes(vdi));
    }
}
