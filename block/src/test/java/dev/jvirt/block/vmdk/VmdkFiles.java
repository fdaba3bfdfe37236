package dev.jvirt.block.vmdk;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.Deflater;

/**
 * Builds VMDK files from VMware's Virtual Disk Format 1.1 for the tests, independently of the
 * reader: a monolithicSparse extent, a streamOptimized stream as VMware writes it (compressed
 * grains with markers, grain tables and directory after the grains, the header's GD offset
 * "at end" and the real one in the footer), and descriptor files.
 */
final class VmdkFiles {

    static final int GRAIN_SECTORS = 128;
    static final int GRAIN = GRAIN_SECTORS * 512;
    static final int GT_ENTRIES = 512;
    static final int DESCRIPTOR_SECTORS = 20;
    static final int FLAG_NEWLINE_DETECT = 1;
    static final int FLAG_ZERO_GRAIN = 1 << 2;
    static final int FLAG_COMPRESSED = 1 << 16;
    static final int FLAG_MARKERS = 1 << 17;

    private VmdkFiles() {
    }

    static String descriptor(String createType, String extents) {
        return "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"" + createType + "\"\n\n"
                + "# Extent description\n" + extents + "\n# The Disk Data Base\n#DDB\n\nddb.adapterType = \"ide\"\n";
    }

    static byte[] header(int version, int flags, long capacity, long gdOffset, long overhead, int compression) {
        ByteBuffer b = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, "KDMV".getBytes(StandardCharsets.US_ASCII));
        b.putInt(4, version);
        b.putInt(8, flags);
        b.putLong(12, capacity);
        b.putLong(20, GRAIN_SECTORS);
        b.putLong(28, 1);
        b.putLong(36, DESCRIPTOR_SECTORS);
        b.putInt(44, GT_ENTRIES);
        b.putLong(48, 0);
        b.putLong(56, gdOffset);
        b.putLong(64, overhead);
        b.put(73, (byte) '\n').put(74, (byte) ' ').put(75, (byte) '\r').put(76, (byte) '\n');
        b.putShort(77, (short) compression);
        return b.array();
    }

    private static long grains(byte[] disk) {
        return (disk.length + GRAIN - 1) / GRAIN;
    }

    private static long gdEntries(byte[] disk) {
        return (grains(disk) + GT_ENTRIES - 1) / GT_ENTRIES;
    }

    private static boolean zero(byte[] disk, long grain) {
        for (long i = grain * GRAIN; i < Math.min(disk.length, (grain + 1) * GRAIN); i++) {
            if (disk[(int) i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static byte[] grainBytes(byte[] disk, long grain) {
        return Arrays.copyOfRange(disk, (int) (grain * GRAIN), (int) Math.min(disk.length, (grain + 1) * GRAIN));
    }

    /**
     * A monolithicSparse extent of {@code disk} (a whole number of sectors): grains with data are
     * stored, the others left unallocated, or marked as zeroed grains when {@code zeroedGrains}.
     */
    static byte[] sparse(byte[] disk, boolean zeroedGrains) {
        long gdEntries = gdEntries(disk);
        long gdSector = 1 + DESCRIPTOR_SECTORS;
        long gdSectors = (gdEntries * 4 + 511) / 512;
        long gtSector = gdSector + gdSectors;
        long overhead = (gtSector + gdEntries * 4 + GRAIN_SECTORS - 1) / GRAIN_SECTORS * GRAIN_SECTORS;
        int flags = FLAG_NEWLINE_DETECT | (zeroedGrains ? FLAG_ZERO_GRAIN : 0);
        Sectors out = new Sectors();
        out.put(0, header(1, flags, disk.length / 512, gdSector, overhead, 0));
        out.put(512, descriptor("monolithicSparse", "RW " + disk.length / 512 + " SPARSE \"x.vmdk\"").getBytes(StandardCharsets.US_ASCII));
        long next = overhead;
        for (long t = 0; t < gdEntries; t++) {
            out.putInt(gdSector * 512 + t * 4, (int) (gtSector + t * 4));
        }
        for (long g = 0; g < grains(disk); g++) {
            long entryAt = (gtSector + (g / GT_ENTRIES) * 4) * 512 + (g % GT_ENTRIES) * 4;
            if (zero(disk, g)) {
                out.putInt(entryAt, zeroedGrains ? 1 : 0);
                continue;
            }
            out.putInt(entryAt, (int) next);
            out.put(next * 512, grainBytes(disk, g));
            next += GRAIN_SECTORS;
        }
        out.ensure(next * 512);
        return out.toArray();
    }

    /** A streamOptimized file of {@code disk}, as VMware writes one front to back. */
    static byte[] stream(byte[] disk) {
        int flags = FLAG_NEWLINE_DETECT | FLAG_COMPRESSED | FLAG_MARKERS;
        long overhead = GRAIN_SECTORS;
        Sectors out = new Sectors();
        out.put(0, header(3, flags, disk.length / 512, -1, overhead, 1));
        out.put(512, descriptor("streamOptimized", "RW " + disk.length / 512 + " SPARSE \"x.vmdk\"").getBytes(StandardCharsets.US_ASCII));
        long next = overhead;
        long gdEntries = gdEntries(disk);
        int[][] tables = new int[(int) gdEntries][];
        for (long g = 0; g < grains(disk); g++) {
            if (zero(disk, g)) {
                continue;
            }
            byte[] compressed = deflate(grainBytes(disk, g));
            out.putLong(next * 512, g * GRAIN_SECTORS);
            out.putInt(next * 512 + 8, compressed.length);
            out.put(next * 512 + 12, compressed);
            int table = (int) (g / GT_ENTRIES);
            if (tables[table] == null) {
                tables[table] = new int[GT_ENTRIES];
            }
            tables[table][(int) (g % GT_ENTRIES)] = (int) next;
            next += (12 + compressed.length + 511) / 512;
        }
        int[] directory = new int[(int) gdEntries];
        for (int t = 0; t < tables.length; t++) {
            if (tables[t] == null) {
                continue;
            }
            marker(out, next, 4, 1);
            directory[t] = (int) (next + 1);
            for (int i = 0; i < GT_ENTRIES; i++) {
                out.putInt((next + 1) * 512 + i * 4L, tables[t][i]);
            }
            next += 5;
        }
        long gdSectors = (gdEntries * 4 + 511) / 512;
        marker(out, next, gdSectors, 2);
        long gdSector = next + 1;
        for (int t = 0; t < directory.length; t++) {
            out.putInt(gdSector * 512 + t * 4L, directory[t]);
        }
        next = gdSector + gdSectors;
        marker(out, next, 1, 3);
        out.put((next + 1) * 512, header(3, flags, disk.length / 512, gdSector, overhead, 1));
        out.ensure((next + 3) * 512); // the end-of-stream marker: a sector of zeroes
        return out.toArray();
    }

    private static void marker(Sectors out, long sector, long value, int type) {
        out.putLong(sector * 512, value);
        out.putInt(sector * 512 + 8, 0);
        out.putInt(sector * 512 + 12, type);
    }

    static byte[] deflate(byte[] data) {
        Deflater deflater = new Deflater();
        deflater.setInput(data);
        deflater.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        while (!deflater.finished()) {
            out.write(buffer, 0, deflater.deflate(buffer));
        }
        deflater.end();
        return out.toByteArray();
    }

    /** A growable little-endian file image. */
    private static final class Sectors {
        private byte[] bytes = new byte[0];

        void ensure(long length) {
            if (length > bytes.length) {
                bytes = Arrays.copyOf(bytes, (int) Math.max(length, bytes.length * 2L));
            }
            size = Math.max(size, (int) length);
        }

        private int size;

        void put(long at, byte[] data) {
            ensure(at + data.length);
            System.arraycopy(data, 0, bytes, (int) at, data.length);
        }

        void putInt(long at, int value) {
            put(at, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array());
        }

        void putLong(long at, long value) {
            put(at, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array());
        }

        byte[] toArray() {
            return Arrays.copyOf(bytes, (size + 511) / 512 * 512);
        }
    }
}
