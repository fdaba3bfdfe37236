package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Creator;
import dev.jvirt.block.qcow2.Qcow2Image;
import dev.jvirt.block.raw.RawImage;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code convert [-c] [-f fmt] [-O fmt] [-B backing -F backing_fmt] [-o options] [-S size] [-l snapshot_param] [-p] [-q] [-n] source target}:
 * copies the guest-visible content (of an internal snapshot with -l). Runs that read as zeroes are skipped (left as holes or unallocated
 * clusters), detected both from the source's allocation map and by scanning for zero blocks of
 * -S bytes (default 4 KiB), as qemu-img does. The target is written with cache=unsafe and flushed
 * once at the end, like qemu-img's default.
 *
 * <p>With -c (qcow2 only) each non-zero cluster is written compressed when that makes it smaller.
 * With -B the qcow2 target gets that backing file and a cluster is written only where the source
 * differs from what the target already reads through its backing. qemu-img instead skips what is
 * unallocated in the source's top layer; comparing content gives the same guest view and also
 * leaves out clusters of a flat source that merely repeat the backing file.
 */
final class ConvertCommand {

    private static final int CHUNK = 2 << 20;

    private ConvertCommand() {
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("convert", args, Set.of("-f", "-O", "-o", "-S", "-t", "-T", "-l", "-B", "-F"),
                Set.of("-p", "-q", "-n", "-U", "-c"));
        if (a.positional.size() != 2) {
            throw new UsageException("Expecting one source and one target file name");
        }
        String targetFormat = a.has("-O") ? a.get("-O") : "raw";
        long sparse = a.has("-S") ? Sizes.parse(a.get("-S")) : 4096;
        if (sparse < 0 || (sparse != 0 && sparse % 512 != 0)) {
            throw new UsageException("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 bytes");
        }
        boolean compress = a.has("-c");
        if (compress && !targetFormat.equals("qcow2")) {
            throw new UsageException("Compression not supported for this file format");
        }
        String backingFile = a.get("-B");
        if (backingFile != null && !a.has("-n")) {
            if (!targetFormat.equals("qcow2")) {
                throw new UsageException("Backing file not supported for file format '" + targetFormat + "'");
            }
            if (!a.has("-F")) {
                throw new UsageException("Use of backing file requires explicit backing format");
            }
        }
        Path source = Path.of(a.positional.get(0));
        Path target = Path.of(a.positional.get(1));
        Progress progress = new Progress(a.has("-p") && !a.has("-q"), out);
        try (BlockDriver opened = Images.open(source, OpenOptions.forReading().withFormat(a.get("-f")))) {
            BlockDriver in = a.has("-l") ? SnapshotSelector.select(opened, a.get("-l")) : opened;
            if (!a.has("-n")) {
                createTarget(target, targetFormat, in.size(), CreateCommand.parseOptions(a.get("-o")), backingFile, a.get("-F"));
            }
            OpenOptions targetOptions = new OpenOptions(false, CacheMode.UNSAFE, targetFormat);
            try (BlockDriver outImage = Images.open(target, targetOptions)) {
                if (outImage.size() < in.size()) {
                    throw new UsageException("Target image is smaller than the source (" + outImage.size() + " < " + in.size() + ")");
                }
                if (compress || backingFile != null) {
                    copyByCluster(in, outImage, compress, backingFile != null || a.has("-n"), progress);
                } else {
                    copy(in, outImage, sparse, a.has("-n"), progress);
                }
                outImage.flush();
            }
        }
        progress.done();
        return 0;
    }

    private static void createTarget(Path target, String format, long size, Map<String, String> options, String backingFile,
                                     String backingFormat) throws UsageException, IOException {
        switch (format) {
            case "raw" -> RawImage.create(target, size);
            case "qcow2" -> {
                int clusterSize = options.containsKey("cluster_size") ? (int) Sizes.parse(options.get("cluster_size")) : 65536;
                String compat = options.getOrDefault("compat", "1.1");
                Qcow2Creator.create(target, new Qcow2Creator.Options(size, clusterSize, !compat.equals("0.10") && !compat.equals("v2"),
                        false, backingFile, backingFormat, CreateCommand.compressionType(options).equals("zstd")));
            }
            case "vmdk", "vdi", "vpc" -> throw new UsageException("Writing " + format + " images is not supported: jvirt-img reads vmdk, vdi"
                    + " and vpc to import guests; convert them with -O raw or -O qcow2");
            default -> throw new UsageException("Unknown file format '" + format + "'");
        }
    }

    private static void copy(BlockDriver in, BlockDriver out, long sparse, boolean existingTarget, Progress progress) throws IOException {
        byte[] buffer = new byte[CHUNK];
        long size = in.size();
        long position = 0;
        while (position < size) {
            BlockStatus status = in.blockStatus(position, Math.min(CHUNK, size - position));
            int length = (int) Math.min(status.length(), CHUNK);
            if (status.zero() && !status.data()) {
                if (existingTarget) {
                    out.writeZeroes(position, length);
                }
            } else {
                in.read(position, buffer, 0, length);
                writeSkippingZeroes(out, position, buffer, length, sparse, existingTarget);
            }
            position += length;
            progress.update(position, size);
        }
    }

    /**
     * Copies cluster by cluster of the target, for -c (compressed clusters are written whole) and
     * for targets that already read something (-B, -n): a cluster that already reads the same in the
     * target is skipped, a zero one becomes a write-zeroes, any other is written (compressed with -c).
     */
    private static void copyByCluster(BlockDriver in, BlockDriver out, boolean compress, boolean compareTarget,
                                      Progress progress) throws IOException {
        int clusterSize = out instanceof Qcow2Image qcow2 ? qcow2.header().clusterSize() : 65536;
        byte[] cluster = new byte[clusterSize];
        byte[] current = new byte[clusterSize];
        long size = in.size();
        for (long position = 0; position < size; position += clusterSize) {
            int length = (int) Math.min(clusterSize, size - position);
            BlockStatus status = in.blockStatus(position, length);
            boolean zero;
            if (status.zero() && !status.data() && status.length() >= length) {
                Arrays.fill(cluster, 0, length, (byte) 0);
                zero = true;
            } else {
                in.read(position, cluster, 0, length);
                zero = isZero(cluster, 0, length);
            }
            if (compareTarget) {
                out.read(position, current, 0, length);
                if (Arrays.equals(cluster, 0, length, current, 0, length)) {
                    progress.update(position + length, size);
                    continue;
                }
            }
            if (zero) {
                if (compareTarget) {
                    out.writeZeroes(position, length);
                }
            } else if (compress) {
                ((Qcow2Image) out).writeCompressed(position, cluster, 0, length);
            } else {
                out.write(position, cluster, 0, length);
            }
            progress.update(position + length, size);
        }
    }

    /** Writes the non-zero blocks of {@code buffer}; zero blocks of {@code sparse} bytes are left out. */
    private static void writeSkippingZeroes(BlockDriver out, long position, byte[] buffer, int length, long sparse,
                                            boolean existingTarget) throws IOException {
        if (sparse == 0) {
            out.write(position, buffer, 0, length);
            return;
        }
        int block = (int) sparse;
        int runStart = -1;
        for (int at = 0; at < length; at += block) {
            int end = Math.min(length, at + block);
            boolean zero = isZero(buffer, at, end);
            if (!zero && runStart < 0) {
                runStart = at;
            } else if (zero && runStart >= 0) {
                out.write(position + runStart, buffer, runStart, at - runStart);
                runStart = -1;
            }
            if (zero && existingTarget) {
                out.writeZeroes(position + at, end - at);
            }
        }
        if (runStart >= 0) {
            out.write(position + runStart, buffer, runStart, length - runStart);
        }
    }

    private static boolean isZero(byte[] buffer, int from, int to) {
        for (int i = from; i < to; i++) {
            if (buffer[i] != 0) {
                return false;
            }
        }
        return true;
    }

    /** qemu-img's -p progress line: "    (42.00/100%)", rewritten in place. */
    private static final class Progress {
        private final boolean enabled;
        private final PrintStream out;
        private int lastPercent = -1;

        Progress(boolean enabled, PrintStream out) {
            this.enabled = enabled;
            this.out = out;
            update(0, 1);
        }

        void update(long done, long total) {
            int percent = total == 0 ? 100 : (int) (done * 100 / total);
            if (enabled && percent != lastPercent) {
                lastPercent = percent;
                out.printf("    (%d.00/100%%)\r", percent);
                out.flush();
            }
        }

        void done() {
            if (enabled) {
                update(1, 1);
                out.println();
            }
        }
    }
}
