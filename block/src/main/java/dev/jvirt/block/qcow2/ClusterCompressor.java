package dev.jvirt.block.qcow2;

import java.util.Arrays;
import java.util.zip.Deflater;

/**
 * Compresses one guest cluster for a compressed qcow2 cluster, as QEMU's qcow2_co_compress does:
 * a raw deflate stream (no zlib header or checksum) at the default level. The result is used only
 * when it is shorter than a cluster; otherwise the caller writes the cluster as it is.
 *
 * QEMU deflates with a 4 KiB window (windowBits -12) and java.util.zip always uses 32 KiB; the
 * stream is still readable by QEMU because it inflates a whole cluster in one call, where
 * back-references reach into the output buffer rather than the window.
 */
final class ClusterCompressor {

    private ClusterCompressor() {
    }

    /** The compressed bytes, or null when they would not be shorter than {@code length - 1}. */
    static byte[] deflate(byte[] cluster, int length) {
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        try {
            deflater.setInput(cluster, 0, length);
            deflater.finish();
            // QEMU gives the compressor cluster_size - 1 bytes of room and falls back when it runs out.
            byte[] out = new byte[length - 1];
            int produced = 0;
            while (!deflater.finished() && produced < out.length) {
                produced += deflater.deflate(out, produced, out.length - produced);
            }
            if (!deflater.finished()) {
                return null;
            }
            return Arrays.copyOf(out, produced);
        } finally {
            deflater.end();
        }
    }
}
