package dev.jvirt.block.vpc;

import dev.jvirt.block.ImageException;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The 512-byte VHD "hard disk footer" (Microsoft's VHD specification; QEMU's block/vpc.c), all
 * fields big-endian. A fixed disk has it only after the data; a dynamic disk also keeps a copy at
 * offset 0, which is the one read (as QEMU does).
 *
 * <p>The virtual size: Virtual PC sized a disk by its CHS geometry, and so did QEMU's vpc driver
 * before it learned to write current_size ("qemu" images: CHS; "qem2": current_size). Hyper-V,
 * Disk2vhd, XenServer, Azure and the rest write a reliable current_size, which the geometry would
 * round down. We follow QEMU's current rule (since 10.0, which inverted the 7.2 list of known
 * current_size writers into a list of the two CHS writers): CHS for creator "vpc " and "qemu",
 * current_size for every other creator and for the maximal geometry 65535/16/255, whose CHS size
 * would truncate larger disks. Both rules give the same size for every image qemu-img creates,
 * and for Hyper-V/Disk2vhd/XenServer images; they differ only for unknown creators (e.g. Azure's
 * "wa\0\0"), where current_size is the one that keeps the whole disk.
 */
record VpcFooter(long dataOffset, String creatorApp, long currentSize, int cylinders, int heads, int sectorsPerTrack,
                 int diskType, long virtualSize) {

    static final int SIZE = 512;
    static final int FIXED = 2;
    static final int DYNAMIC = 3;
    static final int DIFFERENCING = 4;
    /** 2040 GiB, QEMU's VHD_MAX_SECTORS: BAT entries are 32-bit sector numbers. */
    static final long MAX_SIZE = 0xff00_0000L * 512;
    private static final long MAX_GEOMETRY_SECTORS = 65535L * 16 * 255;
    private static final byte[] COOKIE = "conectix".getBytes(StandardCharsets.US_ASCII);
    private static final int CHECKSUM_AT = 64;

    /** Whether the 512 bytes at {@code at} start with the footer cookie. */
    static boolean hasCookie(byte[] bytes, int at) {
        return bytes.length >= at + COOKIE.length && java.util.Arrays.equals(bytes, at, at + COOKIE.length, COOKIE, 0, COOKIE.length);
    }

    static VpcFooter parse(String name, byte[] raw) throws ImageException {
        if (raw.length != SIZE || !hasCookie(raw, 0)) {
            throw new ImageException(name + ": invalid VPC image (no \"conectix\" footer)");
        }
        ByteBuffer b = ByteBuffer.wrap(raw);
        long stored = Integer.toUnsignedLong(b.getInt(CHECKSUM_AT));
        long computed = checksum(raw, CHECKSUM_AT);
        if (stored != computed) {
            throw new ImageException("%s: incorrect VHD footer checksum (stored 0x%08x, computed 0x%08x)".formatted(name, stored, computed));
        }
        String creatorApp = new String(raw, 28, 4, StandardCharsets.ISO_8859_1);
        long currentSize = b.getLong(48);
        int cylinders = Short.toUnsignedInt(b.getShort(56));
        int heads = Byte.toUnsignedInt(b.get(58));
        int sectorsPerTrack = Byte.toUnsignedInt(b.get(59));
        int diskType = b.getInt(60);
        long chsSectors = (long) cylinders * heads * sectorsPerTrack;
        boolean useChs = (creatorApp.equals("vpc ") || creatorApp.equals("qemu")) && chsSectors != MAX_GEOMETRY_SECTORS;
        long virtualSize;
        if (useChs) {
            virtualSize = chsSectors * 512;
        } else {
            if (currentSize < 0) {
                throw new ImageException("%s: VHD current size 0x%x is absurd".formatted(name, currentSize));
            }
            virtualSize = currentSize / 512 * 512;
        }
        if (virtualSize > MAX_SIZE) {
            throw new ImageException("%s: VHD virtual size %d exceeds the format's maximum of 2040 GiB".formatted(name, virtualSize));
        }
        return new VpcFooter(b.getLong(16), creatorApp, currentSize, cylinders, heads, sectorsPerTrack, diskType, virtualSize);
    }

    /** The one's complement of the byte sum, skipping the 4-byte checksum field at {@code checksumAt}. */
    static long checksum(byte[] bytes, int checksumAt) {
        int sum = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (i < checksumAt || i >= checksumAt + 4) {
                sum += bytes[i] & 0xFF;
            }
        }
        return Integer.toUnsignedLong(~sum);
    }
}
