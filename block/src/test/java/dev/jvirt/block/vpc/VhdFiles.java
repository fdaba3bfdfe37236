package dev.jvirt.block.vpc;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Builds VHD files from the specification for the tests, independently of the reader: fixed
 * (data + footer) and dynamic (footer copy, dynamic header, BAT, blocks with sector bitmaps, footer).
 */
final class VhdFiles {

    /** The footer fields a test varies. */
    record Footer(String creatorApp, long currentSize, int cylinders, int heads, int sectorsPerTrack, int diskType) {

        /** A Hyper-V style footer: current_size is the size, the geometry only approximates it. */
        static Footer hyperV(long size, int diskType) {
            return new Footer("win ", size, 1024, 16, 63, diskType);
        }
    }

    private VhdFiles() {
    }

    static byte[] footer(Footer f, long dataOffset) {
        ByteBuffer b = ByteBuffer.allocate(512);
        b.put(0, "conectix".getBytes(StandardCharsets.US_ASCII));
        b.putInt(8, 2);
        b.putInt(12, 0x00010000);
        b.putLong(16, dataOffset);
        b.put(28, f.creatorApp().getBytes(StandardCharsets.ISO_8859_1));
        b.put(36, "Wi2k".getBytes(StandardCharsets.US_ASCII));
        b.putLong(40, f.currentSize());
        b.putLong(48, f.currentSize());
        b.putShort(56, (short) f.cylinders());
        b.put(58, (byte) f.heads());
        b.put(59, (byte) f.sectorsPerTrack());
        b.putInt(60, f.diskType());
        b.putInt(64, (int) VpcFooter.checksum(b.array(), 64));
        return b.array();
    }

    static byte[] fixed(byte[] disk, Footer f) {
        byte[] file = Arrays.copyOf(disk, disk.length + 512);
        System.arraycopy(footer(f, -1), 0, file, disk.length, 512);
        return file;
    }

    /**
     * A dynamic disk holding {@code disk} in blocks of {@code blockSize}: all-zero blocks stay
     * unallocated; in allocated blocks, sectors that are all zero get a clear bitmap bit when
     * {@code exactBitmaps} (as Hyper-V writes them), otherwise every bit is set (as QEMU does).
     */
    static byte[] dynamic(byte[] disk, Footer f, int blockSize, boolean exactBitmaps) {
        int blocks = (int) ((f.currentSize() + blockSize - 1) / blockSize);
        int bitmapSize = ((blockSize / 512 + 7) / 8 + 511) & ~511;
        int batOffset = 512 + 1024;
        int batBytes = ((blocks * 4) + 511) & ~511;
        ByteBuffer out = ByteBuffer.allocate(batOffset + batBytes + blocks * (bitmapSize + blockSize) + 512);
        byte[] footer = footer(f, 512);
        out.put(0, footer);
        ByteBuffer header = ByteBuffer.allocate(1024);
        header.put(0, "cxsparse".getBytes(StandardCharsets.US_ASCII));
        header.putLong(8, -1);
        header.putLong(16, batOffset);
        header.putInt(24, 0x00010000);
        header.putInt(28, blocks);
        header.putInt(32, blockSize);
        header.putInt(36, (int) VpcFooter.checksum(header.array(), 36));
        out.put(512, header.array());
        int next = batOffset + batBytes;
        for (int i = 0; i < blocks; i++) {
            int from = i * blockSize;
            byte[] block = Arrays.copyOfRange(disk, Math.min(from, disk.length), Math.min(from + blockSize, disk.length));
            if (isZero(block)) {
                out.putInt(batOffset + i * 4, -1);
                continue;
            }
            out.putInt(batOffset + i * 4, next / 512);
            for (int sector = 0; sector < blockSize / 512; sector++) {
                int at = sector * 512;
                boolean written = !exactBitmaps || (at < block.length && !isZero(Arrays.copyOfRange(block, at, Math.min(at + 512, block.length))));
                if (written) {
                    out.put(next + sector / 8, (byte) (out.get(next + sector / 8) | (0x80 >>> (sector % 8))));
                }
            }
            out.put(next + bitmapSize, block);
            next += bitmapSize + blockSize;
        }
        out.put(next, footer);
        return Arrays.copyOf(out.array(), next + 512);
    }

    private static boolean isZero(byte[] bytes) {
        for (byte b : bytes) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }
}
