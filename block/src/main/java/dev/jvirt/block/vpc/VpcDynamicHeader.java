package dev.jvirt.block.vpc;

import dev.jvirt.block.ImageException;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The 1024-byte "cxsparse" dynamic disk header that the footer's data offset points to: where
 * the block allocation table (BAT) lies, how many entries it has and the block size. Big-endian,
 * with its own checksum.
 */
record VpcDynamicHeader(long tableOffset, int maxTableEntries, int blockSize) {

    static final int SIZE = 1024;
    /** Blocks are 2 MiB in every writer we know; 512 B (QEMU's lower bound) to 256 MiB is accepted. */
    static final int MIN_BLOCK = 512;
    static final int MAX_BLOCK = 256 << 20;
    private static final byte[] COOKIE = "cxsparse".getBytes(StandardCharsets.US_ASCII);
    private static final int CHECKSUM_AT = 36;

    static VpcDynamicHeader parse(String name, byte[] raw) throws ImageException {
        if (!Arrays.equals(raw, 0, COOKIE.length, COOKIE, 0, COOKIE.length)) {
            throw new ImageException(name + ": invalid dynamic VHD header (no \"cxsparse\" cookie)");
        }
        ByteBuffer b = ByteBuffer.wrap(raw);
        long stored = Integer.toUnsignedLong(b.getInt(CHECKSUM_AT));
        long computed = VpcFooter.checksum(raw, CHECKSUM_AT);
        if (stored != computed) {
            throw new ImageException("%s: incorrect dynamic VHD header checksum (stored 0x%08x, computed 0x%08x)"
                    .formatted(name, stored, computed));
        }
        long tableOffset = b.getLong(16);
        int maxTableEntries = b.getInt(28);
        int blockSize = b.getInt(32);
        if (blockSize < MIN_BLOCK || blockSize > MAX_BLOCK || Integer.bitCount(blockSize) != 1) {
            throw new ImageException("%s: invalid VHD block size %d (a power of two from %d to %d expected)"
                    .formatted(name, Integer.toUnsignedLong(blockSize), MIN_BLOCK, MAX_BLOCK));
        }
        if (maxTableEntries < 0) {
            throw new ImageException("%s: VHD block allocation table of %d entries is absurd"
                    .formatted(name, Integer.toUnsignedLong(maxTableEntries)));
        }
        return new VpcDynamicHeader(tableOffset, maxTableEntries, blockSize);
    }

    /** Bytes of the sector bitmap before each block's data: one bit a sector, padded to a sector. */
    int bitmapSize() {
        int bytes = (blockSize / 512 + 7) / 8;
        return (bytes + 511) & ~511;
    }
}
