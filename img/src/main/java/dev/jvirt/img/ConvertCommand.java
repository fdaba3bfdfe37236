package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Creator;
import dev.jvirt.block.raw.RawImage;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code convert [-f fmt] [-O fmt] [-o options] [-S size] [-l snapshot_param] [-p] [-q] [-n] source target}:
 * copies the guest-visible content (of an internal snapshot with -l). Runs that read as zeroes are skipped (left as holes or unallocated
 * clusters), detected both from the source's allocation map and by scanning for zero blocks of
 * -S bytes (default 4 KiB), as qemu-img does. The target is written with cache=unsafe and flushed
 * once at the end, like qemu-img's default.
 */
final class ConvertCommand {

    private static final int CHUNK = 2 << 20;

    private ConvertCommand() {
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("convert", args, Set.of("-f", "-O", "-o", "-S", "-t", "-T", "-l"), Set.of("-p", "-q", "-n", "-U"));
        if (a.positional.size() != 2) {
            throw new UsageException("Expecting one source and one target file name");
        }
        String targetFormat = a.has("-O") ? a.get("-O") : "raw";
        long sparse = a.has("-S") ? Sizes.parse(a.get("-S")) : 4096;
        if (sparse < 0 || (sparse != 0 && sparse % 512 != 0)) {
            throw new UsageException("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 bytes");
        }
        Path source = Path.of(a.positional.get(0));
        Path target = Path.of(a.positional.get(1));
        Progress progress = new Progress(a.has("-p") && !a.has("-q"), out);
        try (BlockDriver opened = Images.open(source, OpenOptions.forReading().withFormat(a.get("-f")))) {
            BlockDriver in = a.has("-l") ? SnapshotSelector.select(opened, a.get("-l")) : opened;
            if (!a.has("-n")) {
                createTarget(target, targetFormat, in.size(), CreateCommand.parseOptions(a.get("-o")));
            }
            OpenOptions targetOptions = new OpenOptions(false, CacheMode.UNSAFE, targetFormat);
            try (BlockDriver outImage = Images.open(target, targetOptions)) {
                if (outImage.size() < in.size()) {
                    throw new UsageException("Target image is smaller than the source (" + outImage.size() + " < " + in.size() + ")");
                }
                copy(in, outImage, sparse, a.has("-n"), progress);
                outImage.flush();
            }
        }
        progress.done();
        return 0;
    }

    private static void createTarget(Path target, String format, long size, Map<String, String> options) throws UsageException, IOException {
        switch (format) {
            case "raw" -> RawImage.create(target, size);
            case "qcow2" -> {
                int clusterSize = options.containsKey("cluster_size") ? (int) Sizes.parse(options.get("cluster_size")) : 65536;
                String compat = options.getOrDefault("compat", "1.1");
                Qcow2Creator.create(target, new Qcow2Creator.Options(size, clusterSize, !compat.equals("0.10") && !compat.equals("v2"),
                        false, null, null));
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
