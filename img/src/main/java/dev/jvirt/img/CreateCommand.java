package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Creator;
import dev.jvirt.block.raw.RawImage;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** {@code create [-f fmt] [-b backing [-F backing_fmt]] [-o options] filename [size]}. */
final class CreateCommand {

    private CreateCommand() {
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("create", args, Set.of("-f", "-b", "-F", "-o"), Set.of("-q", "-u"));
        if (a.positional.isEmpty() || a.positional.size() > 2) {
            throw new UsageException("Expecting image file name");
        }
        String format = a.has("-f") ? a.get("-f") : "raw";
        Path path = Path.of(a.positional.getFirst());
        Map<String, String> options = parseOptions(a.get("-o"));
        String backing = a.has("-b") ? a.get("-b") : options.remove("backing_file");
        String backingFormat = a.has("-F") ? a.get("-F") : options.remove("backing_fmt");
        Long size = a.positional.size() == 2 ? Sizes.parse(a.positional.get(1)) : null;
        if (options.containsKey("size")) {
            size = Sizes.parse(options.remove("size"));
        }
        if (backing != null && size == null) {
            Path backingPath = Images.resolveBacking(path, backing);
            try (BlockDriver base = Images.open(backingPath, OpenOptions.forReading().withFormat(backingFormat))) {
                size = base.size();
                if (backingFormat == null) {
                    backingFormat = base.format();
                }
            }
        }
        if (size == null) {
            throw new UsageException("Image creation needs a size parameter");
        }
        switch (format) {
            case "raw" -> {
                if (backing != null) {
                    throw new UsageException("Backing file not supported for file format 'raw'");
                }
                rejectUnknown(options, Set.of("preallocation"), "raw");
                RawImage.create(path, size);
                if (!a.has("-q")) {
                    out.println("Formatting '" + path + "', fmt=raw size=" + size);
                }
            }
            case "qcow2" -> {
                rejectUnknown(options, Set.of("cluster_size", "compat", "lazy_refcounts", "preallocation", "refcount_bits",
                        "compression_type"), "qcow2");
                int clusterSize = options.containsKey("cluster_size") ? (int) Sizes.parse(options.get("cluster_size")) : 65536;
                String compat = options.getOrDefault("compat", "1.1");
                if (!compat.equals("1.1") && !compat.equals("v3") && !compat.equals("0.10") && !compat.equals("v2")) {
                    throw new UsageException("Invalid parameter '" + compat + "' for compat");
                }
                boolean v3 = compat.equals("1.1") || compat.equals("v3");
                boolean lazy = onOff(options.getOrDefault("lazy_refcounts", "off"), "lazy_refcounts");
                String preallocation = options.getOrDefault("preallocation", "off");
                if (!preallocation.equals("off")) {
                    throw new UsageException("preallocation=" + preallocation + " is not supported yet (only off)");
                }
                if (!options.getOrDefault("refcount_bits", "16").equals("16")) {
                    throw new UsageException("refcount_bits other than 16 are not supported yet");
                }
                String compression = compressionType(options);
                if (backing != null && !Files.exists(Images.resolveBacking(path, backing))) {
                    throw new UsageException("Could not open backing file '" + backing + "': No such file or directory");
                }
                Qcow2Creator.create(path, new Qcow2Creator.Options(size, clusterSize, v3, lazy, backing, backingFormat,
                        compression.equals("zstd")));
                if (!a.has("-q")) {
                    out.println("Formatting '" + path + "', fmt=qcow2 cluster_size=" + clusterSize
                            + (backing != null ? " backing_file=" + backing : "")
                            + (backingFormat != null ? " backing_fmt=" + backingFormat : "")
                            + " compression_type=" + compression + " size=" + size + " lazy_refcounts=" + (lazy ? "on" : "off") + " refcount_bits=16");
                }
            }
            case "vmdk", "vdi", "vpc" -> throw new UsageException("Creating " + format + " images is not supported: jvirt-img reads vmdk, vdi"
                    + " and vpc only to import guests");
            default -> throw new UsageException("Unknown file format '" + format + "'");
        }
        return 0;
    }

    static Map<String, String> parseOptions(String text) throws UsageException {
        Map<String, String> options = new TreeMap<>();
        if (text == null || text.isEmpty()) {
            return options;
        }
        for (String item : text.split(",")) {
            int equals = item.indexOf('=');
            if (equals <= 0) {
                throw new UsageException("Invalid option list: " + text);
            }
            options.put(item.substring(0, equals), item.substring(equals + 1));
        }
        return options;
    }

    /** The compression_type option: zlib (the default) or zstd. */
    static String compressionType(Map<String, String> options) throws UsageException {
        String type = options.getOrDefault("compression_type", "zlib");
        if (!type.equals("zlib") && !type.equals("zstd")) {
            throw new UsageException("Invalid parameter '" + type + "' for compression_type");
        }
        return type;
    }

    private static void rejectUnknown(Map<String, String> options, Set<String> known, String format) throws UsageException {
        for (String key : options.keySet()) {
            if (!known.contains(key)) {
                throw new UsageException("Invalid parameter '" + key + "': " + format + " does not support that option");
            }
        }
    }

    private static boolean onOff(String value, String key) throws UsageException {
        return switch (value) {
            case "on", "true", "yes" -> true;
            case "off", "false", "no" -> false;
            default -> throw new UsageException("Parameter '" + key + "' expects 'on' or 'off'");
        };
    }
}
