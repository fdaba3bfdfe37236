package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;
import io.airlift.compress.v3.MalformedInputException;
import io.airlift.compress.v3.zstd.ZstdJavaCompressor;
import io.airlift.compress.v3.zstd.ZstdJavaDecompressor;

import java.util.Arrays;

/**
 * zstd-compressed clusters (compression_type=1, qcow2.txt "Compression type"), as QEMU writes
 * and reads them: one zstd frame per cluster. The compressed-cluster descriptor counts whole
 * sectors, so the bytes read for a cluster run past the frame into whatever follows (often the
 * next cluster's frame); QEMU's streaming decoder stops once the cluster is full, so the frame's
 * own length is found here first and only the frame is decoded.
 */
final class ZstdCluster {

    private static final int FRAME_MAGIC = 0xFD2FB528;

    private ZstdCluster() {
    }

    /** The compressed frame, or null when it would not be shorter than {@code length - 1} bytes (QEMU's limit). */
    static byte[] compress(byte[] cluster, int length) {
        ZstdJavaCompressor compressor = new ZstdJavaCompressor();
        byte[] out = new byte[compressor.maxCompressedLength(length)];
        int produced = compressor.compress(cluster, 0, length, out, 0, out.length);
        return produced <= length - 1 ? Arrays.copyOf(out, produced) : null;
    }

    /** Decodes the frame at the start of {@code compressed} into exactly {@code cluster.length} bytes. */
    static void decompress(String where, byte[] compressed, byte[] cluster) throws ImageException {
        int frame = frameLength(where, compressed);
        int produced;
        try {
            produced = new ZstdJavaDecompressor().decompress(compressed, 0, frame, cluster, 0, cluster.length);
        } catch (MalformedInputException | IndexOutOfBoundsException | IllegalArgumentException e) {
            throw new ImageException(where + " is corrupt: " + e.getMessage());
        }
        if (produced != cluster.length) {
            throw new ImageException(where + " decompresses to " + produced + " bytes, not " + cluster.length);
        }
    }

    /**
     * The length of the zstd frame at the start of {@code b} (RFC 8878 section 3.1.1): magic,
     * frame header, blocks until the last, then the optional checksum.
     */
    static int frameLength(String where, byte[] b) throws ImageException {
        if (b.length < 6 || littleEndian(b, 0, 4) != (FRAME_MAGIC & 0xFFFFFFFFL)) {
            throw new ImageException(where + " does not start with a zstd frame");
        }
        int descriptor = b[4] & 0xFF;
        if ((descriptor & 0x08) != 0) {
            throw new ImageException(where + " has a zstd frame header with the reserved bit set");
        }
        boolean singleSegment = (descriptor & 0x20) != 0;
        int contentSizeBytes = switch (descriptor >>> 6) {
            case 0 -> singleSegment ? 1 : 0;
            case 1 -> 2;
            case 2 -> 4;
            default -> 8;
        };
        int dictionaryBytes = switch (descriptor & 3) {
            case 0 -> 0;
            case 1 -> 1;
            case 2 -> 2;
            default -> 4;
        };
        long at = 5L + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
        while (true) {
            if (at + 3 > b.length) {
                throw new ImageException(where + " has a zstd frame that runs past the compressed data");
            }
            int header = (int) littleEndian(b, (int) at, 3);
            int type = (header >>> 1) & 3;
            int size = header >>> 3;
            if (type == 3) {
                throw new ImageException(where + " has a zstd block of the reserved type");
            }
            at += 3 + (type == 1 ? 1 : size);
            if ((header & 1) != 0) {
                break;
            }
        }
        if ((descriptor & 0x04) != 0) {
            at += 4;
        }
        if (at > b.length) {
            throw new ImageException(where + " has a zstd frame that runs past the compressed data");
        }
        return (int) at;
    }

    private static long littleEndian(byte[] b, int at, int bytes) {
        long value = 0;
        for (int i = bytes - 1; i >= 0; i--) {
            value = (value << 8) | (b[at + i] & 0xFF);
        }
        return value;
    }
}
