package dev.jvirt.block.vmdk;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** VMDK files built from VMware's specification read back as written; malformed ones are refused, untouched. */
class VmdkImageTest {

    /** More than one grain table (512 grains of 64 KiB = 32 MiB each), ending in a partial grain. */
    private static final int SIZE = (40 << 20) + 7 * 512;

    @TempDir
    Path dir;

    static byte[] disk() {
        byte[] disk = new byte[SIZE];
        Random random = new Random(11);
        for (int at : new int[] {1000, 65536 * 3 + 17, 33 << 20, (36 << 20) + 511}) {
            for (int i = 0; i < 150_000; i++) {
                disk[at + i] = (byte) random.nextInt();
            }
        }
        Arrays.fill(disk, SIZE - 512, SIZE, (byte) 0x3c); // the last sector written
        return disk;
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path file = dir.resolve(name);
        Files.write(file, bytes);
        return file;
    }

    private Path write(byte[] bytes) throws IOException {
        return write("t-" + System.nanoTime() + ".vmdk", bytes);
    }

    private static byte[] readAll(BlockDriver image) throws IOException {
        byte[] all = new byte[(int) image.size()];
        image.read(0, all, 0, all.length);
        return all;
    }

    @Test
    void monolithicSparseReadsBackWithHoles() throws IOException {
        byte[] disk = disk();
        try (VmdkImage image = VmdkImage.open(write(VmdkFiles.sparse(disk, false)), CacheMode.WRITEBACK)) {
            assertEquals(SIZE, image.size());
            assertEquals("monolithicSparse", image.createType());
            assertEquals(0x12345678, image.cid());
            assertEquals(VmdkFiles.GRAIN, image.clusterSize());
            assertArrayEquals(disk, readAll(image));
            BlockStatus first = image.blockStatus(0, SIZE);
            assertTrue(first.data());
            assertEquals(VmdkFiles.GRAIN * 6L, first.length(), "grains 0-5 hold data and lie one after the other");
            BlockStatus hole = image.blockStatus(first.length() + VmdkFiles.GRAIN * 3L, SIZE);
            assertFalse(hole.allocated());
            assertTrue(hole.zero());
            BlockStatus last = image.blockStatus(SIZE - 512, 512);
            assertTrue(last.data());
        }
    }

    @Test
    void zeroedGrainsAreAllocatedZeroes() throws IOException {
        byte[] disk = disk();
        try (VmdkImage image = VmdkImage.open(write(VmdkFiles.sparse(disk, true)), CacheMode.WRITEBACK)) {
            assertArrayEquals(disk, readAll(image));
            BlockStatus zeroed = image.blockStatus(VmdkFiles.GRAIN * 8L, SIZE);
            assertTrue(zeroed.allocated());
            assertTrue(zeroed.zero());
            assertFalse(zeroed.data());
        }
    }

    @Test
    void streamOptimizedFindsItsGrainDirectoryInTheFooter() throws IOException {
        byte[] disk = disk();
        byte[] stream = VmdkFiles.stream(disk);
        assertEquals(-1L, ByteBuffer.wrap(stream).order(ByteOrder.LITTLE_ENDIAN).getLong(56), "the header says GD_AT_END");
        try (VmdkImage image = VmdkImage.open(write(stream), CacheMode.WRITEBACK)) {
            assertEquals("streamOptimized", image.createType());
            assertTrue(image.extentInfo().getFirst().compressed());
            assertArrayEquals(disk, readAll(image));
            BlockStatus first = image.blockStatus(0, SIZE);
            assertTrue(first.data());
            assertEquals(-1, first.hostOffset(), "compressed grains have no offset to map");
            // Small reads at odd places inflate grains piecemeal, the way a guest would read.
            byte[] piece = new byte[1000];
            image.read((36 << 20) + 100, piece, 0, piece.length);
            assertArrayEquals(Arrays.copyOfRange(disk, (36 << 20) + 100, (36 << 20) + 1100), piece);
        }
    }

    /** The test files are built from the specification; the real qemu-img must agree on what they hold. */
    @Test
    void qemuImgReadsTheTestFilesTheSame() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img not installed; scripts/setup installs it");
        byte[] disk = disk();
        for (byte[] file : new byte[][] {VmdkFiles.stream(disk), VmdkFiles.sparse(disk, true)}) {
            Path vmdk = write(file);
            Path raw = dir.resolve("q-" + System.nanoTime() + ".raw");
            Process p = new ProcessBuilder("qemu-img", "convert", "-f", "vmdk", "-O", "raw", vmdk.toString(), raw.toString())
                    .redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.waitFor(), output);
            assertArrayEquals(disk, Files.readAllBytes(raw));
        }
    }

    @Test
    void descriptorFilesJoinTheirExtents() throws IOException {
        byte[] disk = disk();
        int half = SIZE / 2 / 512 * 512;
        // twoGbMaxExtentFlat: two flat extents, the second at an offset inside its file.
        write("a-flat.vmdk", Arrays.copyOf(disk, half));
        byte[] second = new byte[4096 + SIZE - half];
        System.arraycopy(disk, half, second, 4096, SIZE - half);
        write("b-flat.vmdk", second);
        Path flat = write("flat.vmdk", VmdkFiles.descriptor("twoGbMaxExtentFlat",
                "RW " + half / 512 + " FLAT \"a-flat.vmdk\" 0\nRDONLY " + (SIZE - half) / 512 + " FLAT \"b-flat.vmdk\" 8\n")
                .getBytes(StandardCharsets.US_ASCII));
        try (VmdkImage image = VmdkImage.open(flat, CacheMode.WRITEBACK)) {
            assertEquals(SIZE, image.size());
            assertEquals("twoGbMaxExtentFlat", image.createType());
            assertEquals(2, image.extentInfo().size());
            assertEquals("FLAT", image.extentInfo().getFirst().format());
            assertArrayEquals(disk, readAll(image));
            BlockStatus across = image.blockStatus(half - 512, 4096);
            assertEquals(512, across.length(), "a run never crosses into the next extent");
        }
        // twoGbMaxExtentSparse: the extents are sparse files of their own.
        write("s1.vmdk", VmdkFiles.sparse(Arrays.copyOf(disk, half), false));
        write("s2.vmdk", VmdkFiles.stream(Arrays.copyOfRange(disk, half, SIZE)));
        Path sparse = write("sparse.vmdk", VmdkFiles.descriptor("twoGbMaxExtentSparse",
                "RW " + half / 512 + " SPARSE \"s1.vmdk\"\nRW " + (SIZE - half) / 512 + " SPARSE \"" + dir.resolve("s2.vmdk") + "\"\n")
                .getBytes(StandardCharsets.US_ASCII));
        try (VmdkImage image = VmdkImage.open(sparse, CacheMode.WRITEBACK)) {
            assertArrayEquals(disk, readAll(image));
        }
    }

    @Test
    void probingFollowsQemuImg() {
        byte[] text = VmdkFiles.descriptor("monolithicFlat", "RW 8 FLAT \"x\" 0\n").getBytes(StandardCharsets.US_ASCII);
        assertTrue(VmdkProbe.looksLikeDescriptor(text, text.length));
        byte[] crlf = "# comment\r\n   \r\nversion=2\r\n".getBytes(StandardCharsets.US_ASCII);
        assertTrue(VmdkProbe.looksLikeDescriptor(crlf, crlf.length));
        byte[] late = "# comment\ncreateType=\"x\"\nversion=1\n".getBytes(StandardCharsets.US_ASCII);
        assertFalse(VmdkProbe.looksLikeDescriptor(late, late.length), "version= must be the first line that is not a comment");
        byte[] zeroes = new byte[2048];
        assertFalse(VmdkProbe.looksLikeDescriptor(zeroes, zeroes.length));
    }

    private String refusal(byte[] file) throws IOException {
        return refusal(write(file));
    }

    private String refusal(Path path) throws IOException {
        byte[] before = Files.readAllBytes(path);
        ImageException e = assertThrows(ImageException.class, () -> {
            try (VmdkImage image = VmdkImage.open(path, CacheMode.WRITEBACK)) {
                readAll(image);
            }
        });
        assertArrayEquals(before, Files.readAllBytes(path), "a refused image is not modified");
        assertTrue(e.getMessage().contains(path.getFileName().toString()), e.getMessage());
        return e.getMessage();
    }

    private static byte[] patched(byte[] file, long offset, long value, int width) {
        byte[] copy = file.clone();
        ByteBuffer b = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);
        switch (width) {
            case 8 -> b.putLong((int) offset, value);
            case 4 -> b.putInt((int) offset, (int) value);
            case 2 -> b.putShort((int) offset, (short) value);
            default -> b.put((int) offset, (byte) value);
        }
        return copy;
    }

    @Test
    void hostileSparseExtentsAreRefusedWithTheReason() throws IOException {
        byte[] sparse = VmdkFiles.sparse(disk(), false);
        assertTrue(refusal(patched(sparse, 4, 4, 4)).contains("Unsupported VMDK version 4"));
        assertTrue(refusal(patched(sparse, 12, 1L << 50, 8)).contains("capacity of 1125899906842624 sectors is absurd"));
        assertTrue(refusal(patched(sparse, 12, -1, 8)).contains("is absurd"));
        assertTrue(refusal(patched(sparse, 20, 100, 8)).contains("invalid VMDK grain size of 100 sectors"));
        assertTrue(refusal(patched(sparse, 20, 1L << 30, 8)).contains("invalid VMDK grain size"));
        assertTrue(refusal(patched(sparse, 20, 0, 8)).contains("invalid VMDK grain size of 0"));
        assertTrue(refusal(patched(sparse, 44, 0, 4)).contains("grain tables of 0 entries"));
        assertTrue(refusal(patched(sparse, 44, 4096, 4)).contains("grain tables of 4096 entries"));
        assertTrue(refusal(patched(sparse, 56, 1L << 40, 8)).contains("VMDK grain directory at offset 0x2000000000000"));
        assertTrue(refusal(patched(sparse, 56, -2, 8)).contains("VMDK grain directory at offset 0x7fffffffffffffff"));
        assertTrue(refusal(patched(sparse, 64, 1L << 40, 8)).contains("File truncated"));
        assertTrue(refusal(patched(sparse, 75, 'x', 1)).contains("newline check bytes are damaged"));
        assertTrue(refusal(patched(sparse, 77, 7, 2)).contains("unsupported VMDK compression algorithm 7"));
        assertTrue(refusal(patched(sparse, 36, 1L << 40, 8)).contains("embedded VMDK descriptor of"));
        assertTrue(refusal(patched(sparse, 28, 1L << 40, 8)).contains("embedded VMDK descriptor at offset"));
        long gdAt = 21 * 512;
        assertTrue(refusal(patched(sparse, gdAt + 4, 0x7fff_ffff, 4)).contains("VMDK grain table 1 at offset 0xfffffffe00"));
        long firstTable = ByteBuffer.wrap(sparse).order(ByteOrder.LITTLE_ENDIAN).getInt((int) gdAt) * 512L;
        assertTrue(refusal(patched(sparse, firstTable, 0x7fff_ffff, 4)).contains("VMDK grain at offset 0xfffffffe00"));
        assertTrue(refusal(Arrays.copyOf(sparse, sparse.length - VmdkFiles.GRAIN)).contains("is the image truncated?"));
        assertTrue(refusal(Arrays.copyOf(sparse, 300)).contains("file too small for a VMDK header"));
        byte[] parent = sparse.clone();
        byte[] hint = VmdkFiles.descriptor("monolithicSparse", "RW 8 SPARSE \"x.vmdk\"\n")
                .replace("parentCID=ffffffff", "parentCID=1\nparentFileNameHint=\"base.vmdk\"").getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(hint, 0, parent, 512, hint.length);
        assertTrue(refusal(parent).contains("VMDK images with a parent ('base.vmdk') are not supported"));
        byte[] cowd = sparse.clone();
        System.arraycopy("COWD".getBytes(StandardCharsets.US_ASCII), 0, cowd, 0, 4);
        assertTrue(refusal(cowd).contains("\"COWD\""));
    }

    @Test
    void hostileStreamsAreRefusedWithTheReason() throws IOException {
        byte[] stream = VmdkFiles.stream(disk());
        int footer = stream.length - 1024;
        assertTrue(refusal(Arrays.copyOf(stream, stream.length - 512)).contains("Invalid footer"));
        assertTrue(refusal(patched(stream, footer + 56, -1, 8)).contains("does not say where the grain directory is"));
        assertTrue(refusal(patched(stream, footer + 20, 1L << 16, 8)).contains("invalid VMDK grain size of 65536 sectors (a power of two up to 32768 expected)"));
        long grain = VmdkFiles.GRAIN_SECTORS * 512L; // the first grain's marker
        assertTrue(refusal(patched(stream, grain, 999, 8)).contains("grain marker at 0x10000 is for sector 999"));
        assertTrue(refusal(patched(stream, grain + 8, 0, 4)).contains("claims 0 bytes"));
        assertTrue(refusal(patched(stream, grain + 8, -1, 4)).contains("claims 4294967295 bytes"));
        assertTrue(refusal(patched(stream, grain + 12, 0x1234, 2)).contains("compressed grain at 0x10000 is corrupt"));
        int length = ByteBuffer.wrap(stream).order(ByteOrder.LITTLE_ENDIAN).getInt((int) grain + 8);
        assertTrue(refusal(patched(stream, grain + 8, length / 2, 4)).contains("does not inflate to a complete grain"));
        // A stream that inflates past the grain: a different grain's worth of data is longer than the buffer.
        byte[] tooLong = VmdkFiles.deflate(new byte[VmdkFiles.GRAIN + 1]);
        byte[] bomb = stream.clone();
        System.arraycopy(tooLong, 0, bomb, (int) grain + 12, tooLong.length);
        ByteBuffer.wrap(bomb).order(ByteOrder.LITTLE_ENDIAN).putInt((int) grain + 8, tooLong.length);
        assertTrue(refusal(bomb).contains("does not inflate to a complete grain"));
    }

    @Test
    void hostileDescriptorsAreRefusedWithTheReason() throws IOException {
        write("d-flat.vmdk", new byte[8192]);
        assertTrue(refusal(descriptorFile("monolithicSparse", "RW 16 FLAT \"d-flat.vmdk\" 0")).contains("Unsupported image type 'monolithicSparse'"));
        assertTrue(refusal(descriptorFile("monolithicFlat", "RW 17 FLAT \"d-flat.vmdk\" 0")).contains("does not fit in the file"));
        assertTrue(refusal(descriptorFile("monolithicFlat", "RW 16 FLAT \"d-flat.vmdk\" 1")).contains("does not fit in the file"));
        assertTrue(refusal(descriptorFile("monolithicFlat", "RW 16 FLAT \"d-flat.vmdk\"")).contains("needs an offset"));
        assertTrue(refusal(descriptorFile("monolithicFlat", "RW 16 FLAT \"missing.vmdk\" 0")).contains("No such file"));
        assertTrue(refusal(descriptorFile("monolithicFlat", "RW 16 ZERO")).contains("Unsupported extent type 'ZERO'"));
        assertTrue(refusal(descriptorFile("monolithicFlat", "RW 99999999999999999999 FLAT \"d-flat.vmdk\" 0")).contains("Invalid extent line"));
        assertTrue(refusal(descriptorFile("monolithicFlat", "")).contains("lists no extents"));
        assertTrue(refusal(descriptorFile("vmfs", "NOACCESS 16 VMFS \"d-flat.vmdk\"")).contains("NOACCESS"));
        write("empty.vmdk", VmdkFiles.sparse(new byte[0], false));
        String empty = refusal(descriptorFile("twoGbMaxExtentSparse", "RW 16 SPARSE \"empty.vmdk\""));
        assertTrue(empty.contains("is empty"), empty);
        Path noType = write("notype.vmdk", "# Disk DescriptorFile\nversion=1\nRW 16 FLAT \"d-flat.vmdk\" 0\n".getBytes(StandardCharsets.US_ASCII));
        assertTrue(refusal(noType).contains("no createType"));
        // One big sparse file named many times must not multiply the memory of its grain directory.
        byte[] bigDirectory = VmdkFiles.sparse(new byte[0], false);
        int entries = 17 << 20; // a grain table of one 512-byte grain each: more than half of the 32 M allowed
        ByteBuffer.wrap(bigDirectory).order(ByteOrder.LITTLE_ENDIAN).putLong(12, entries).putLong(20, 1).putInt(44, 1);
        bigDirectory = Arrays.copyOf(bigDirectory, 21 * 512 + entries * 4);
        write("big.vmdk", bigDirectory);
        String many = refusal(descriptorFile("twoGbMaxExtentSparse", "RW 16 SPARSE \"big.vmdk\"\n".repeat(100)));
        assertTrue(many.contains("extent \"big.vmdk\"") && many.contains("L1 size too big; " + ((32 << 20) - entries) + " left"), many);
        Path withParent = write("child.vmdk", VmdkFiles.descriptor("monolithicFlat", "RW 16 FLAT \"d-flat.vmdk\" 0\n")
                .replace("parentCID=ffffffff", "parentCID=1234\nparentFileNameHint=\"base.vmdk\"").getBytes(StandardCharsets.US_ASCII));
        assertTrue(refusal(withParent).contains("with a parent"));
    }

    private Path descriptorFile(String createType, String extents) throws IOException {
        return write("d-" + System.nanoTime() + ".vmdk", VmdkFiles.descriptor(createType, extents + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    /** Seeded corruption of the metadata of both layouts: every outcome is a clean read or an ImageException, fast. */
    @Test
    void mutatedImagesNeverCrashOrHang() {
        byte[] small = Arrays.copyOf(disk(), 2 << 20);
        byte[][] originals = {VmdkFiles.sparse(small, true), VmdkFiles.stream(small)};
        Random random = new Random(20261123);
        int[] outcomes = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int round = 0; round < 300; round++) {
                byte[] original = originals[round % 2];
                byte[] mutant = original.clone();
                for (int flips = 1 + random.nextInt(6); flips > 0; flips--) {
                    // Half the flips in the header, the rest anywhere (grain tables, markers, footer, data).
                    int at = random.nextBoolean() ? random.nextInt(80) : random.nextInt(mutant.length);
                    mutant[at] = (byte) (random.nextBoolean() ? random.nextInt() : mutant[at] ^ (1 << random.nextInt(8)));
                }
                Path file = write("mutant.vmdk", mutant);
                try (VmdkImage image = VmdkImage.open(file, CacheMode.WRITEBACK)) {
                    byte[] buffer = new byte[256 << 10];
                    for (long at = 0; at < Math.min(image.size(), 64 << 20); at += buffer.length) {
                        int n = (int) Math.min(buffer.length, image.size() - at);
                        image.blockStatus(at, n);
                        image.read(at, buffer, 0, n);
                    }
                    outcomes[0]++;
                } catch (ImageException refused) {
                    outcomes[1]++;
                    assertFalse(refused.getMessage().isBlank());
                }
                assertArrayEquals(mutant, Files.readAllBytes(file), "reading never writes");
            }
        });
        assertTrue(outcomes[0] > 30 && outcomes[1] > 30, "both paths exercised: " + outcomes[0] + " read, " + outcomes[1] + " refused");
    }

    @Test
    void checkFindsGrainsPastTheEndLikeQemuImg() throws IOException {
        byte[] sparse = VmdkFiles.sparse(disk(), false);
        try (VmdkImage image = VmdkImage.open(write(sparse), CacheMode.WRITEBACK)) {
            assertEquals(java.util.List.of(), image.check());
        }
        long firstTable = ByteBuffer.wrap(sparse).order(ByteOrder.LITTLE_ENDIAN).getInt(21 * 512) * 512L;
        byte[] pastEnd = patched(sparse, firstTable + 4, sparse.length / 512 + 10, 4);
        try (VmdkImage image = VmdkImage.open(write(pastEnd), CacheMode.WRITEBACK)) {
            assertEquals(java.util.List.of("ERROR: cluster offset for sector 128 points after EOF"), image.check());
        }
    }
}
