package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code measure [--output=human|json] [-O fmt] [-o options] [--size N | [-f fmt] filename]}: how
 * big a file {@code convert -O fmt} would write ("required") and the size with every cluster
 * allocated ("fully allocated"), by qemu-img's own formulas (block/qcow2.c qcow2_measure and
 * qcow2_calc_prealloc_size, block/raw-format.c raw_measure), so the numbers are the same.
 */
final class MeasureCommand {

    private static final long MAX_L1_BYTES = 32L << 20;

    private MeasureCommand() {
    }

    /** Target options that change the numbers. */
    private record Target(String format, int clusterSize, int version, int refcountOrder, String preallocation,
                          boolean hasBacking, boolean extendedL2) { }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("measure", args, Set.of("--output", "-O", "-o", "--size", "-f", "-l", "--object"),
                Set.of("--image-opts", "-U", "--force-share"));
        String output = a.has("--output") ? a.get("--output") : "human";
        if (!output.equals("human") && !output.equals("json")) {
            throw new UsageException("--output must be used with human or json as argument.");
        }
        if (a.positional.size() > 1) {
            throw new UsageException("Expecting one image file name");
        }
        if (a.has("--size") && !a.positional.isEmpty()) {
            throw new UsageException("--size N cannot be used together with a filename.");
        }
        if (!a.has("--size") && a.positional.isEmpty()) {
            throw new UsageException("Either --size N or one filename must be specified.");
        }
        Target target = target(a.has("-O") ? a.get("-O") : "raw", CreateCommand.parseOptions(a.get("-o")));
        long[] result;
        boolean bitmaps;
        if (a.has("--size")) {
            long size = Sizes.parse(a.get("--size"));
            result = measure(target, size, null);
            bitmaps = false;
        } else {
            try (BlockDriver input = Images.open(Path.of(a.positional.getFirst()), OpenOptions.forReading().withFormat(a.get("-f")))) {
                result = measure(target, -1, input);
                // qemu-img reports persistent bitmaps when both sides could hold them; we carry none.
                bitmaps = target.format().equals("qcow2") && target.version() >= 3
                        && input instanceof Qcow2Image qcow2 && qcow2.header().version() >= 3;
            }
        }
        if (output.equals("json")) {
            Map<String, Object> json = new LinkedHashMap<>();
            if (bitmaps) {
                json.put("bitmaps", 0);
            }
            json.put("required", result[0]);
            json.put("fully-allocated", result[1]);
            out.println(InfoCommand.JSON.writeValueAsString(json));
        } else {
            out.println("required size: " + result[0]);
            out.println("fully allocated size: " + result[1]);
            if (bitmaps) {
                out.println("bitmaps size: 0");
            }
        }
        return 0;
    }

    private static Target target(String format, Map<String, String> options) throws UsageException {
        switch (format) {
            case "raw" -> {
                for (String key : options.keySet()) {
                    if (!key.equals("preallocation") && !key.equals("size")) {
                        throw new UsageException("Invalid parameter '" + key + "'");
                    }
                }
                return new Target("raw", 0, 0, 0, "off", false, false);
            }
            case "qcow2" -> {
                for (String key : options.keySet()) {
                    if (!Set.of("cluster_size", "compat", "refcount_bits", "preallocation", "backing_file", "backing_fmt",
                            "lazy_refcounts", "compression_type", "extended_l2", "size").contains(key)) {
                        throw new UsageException("Invalid parameter '" + key + "'");
                    }
                }
                boolean extendedL2 = Set.of("on", "true", "yes").contains(options.getOrDefault("extended_l2", "off"));
                long clusterSize = options.containsKey("cluster_size") ? Sizes.parse(options.get("cluster_size")) : 65536;
                if (Long.bitCount(clusterSize) != 1 || clusterSize < 512 || clusterSize > (2 << 20)) {
                    throw new UsageException("Cluster size must be a power of two between 512 and 2048k");
                }
                if (extendedL2 && clusterSize < 16384) {
                    throw new UsageException("Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
                }
                String compat = options.getOrDefault("compat", "1.1");
                int version = switch (compat) {
                    case "1.1", "v3" -> 3;
                    case "0.10", "v2" -> 2;
                    default -> throw new UsageException("Invalid compatibility level: '" + compat + "'");
                };
                long refcountBits = options.containsKey("refcount_bits") ? Long.parseLong(options.get("refcount_bits")) : 16;
                if (Long.bitCount(refcountBits) != 1 || refcountBits > 64 || (version == 2 && refcountBits != 16)) {
                    throw new UsageException("Refcount width must be a power of two and may not exceed 64 bits");
                }
                String preallocation = options.getOrDefault("preallocation", "off");
                if (!Set.of("off", "metadata", "falloc", "full").contains(preallocation)) {
                    throw new UsageException("Invalid parameter '" + preallocation + "'");
                }
                return new Target("qcow2", (int) clusterSize, version, Long.numberOfTrailingZeros(refcountBits), preallocation,
                        options.containsKey("backing_file"), extendedL2);
            }
            default -> throw new UsageException("Block driver '" + format + "' does not support size measurement");
        }
    }

    /** {required, fully allocated} for an image of {@code size} bytes, or of {@code input}'s content. */
    private static long[] measure(Target target, long size, BlockDriver input) throws UsageException, IOException {
        if (target.format().equals("raw")) {
            long required = input != null ? sectorAligned(input) : roundUp(size, 512);
            return new long[] {required, required};
        }
        long clusterSize = target.clusterSize();
        int l2EntrySize = target.extendedL2() ? 16 : 8;
        long virtualSize = roundUp(input != null ? sectorAligned(input) : size, clusterSize);
        long l2Tables = divideRoundingUp(virtualSize / clusterSize, clusterSize / l2EntrySize);
        if (l2Tables * 8 > MAX_L1_BYTES) {
            throw new UsageException("The image size is too large (try using a larger cluster size)");
        }
        long required = 0;
        if (input != null) {
            required = target.hasBacking() ? virtualSize : allocatedClusterBytes(input, clusterSize);
        }
        if (target.preallocation().equals("full") || target.preallocation().equals("falloc")) {
            required = virtualSize;
        }
        long fullyAllocated = preallocatedSize(virtualSize, clusterSize, target.refcountOrder(), l2EntrySize);
        return new long[] {fullyAllocated - virtualSize + required, fullyAllocated};
    }

    /**
     * Bytes of whole clusters that hold data somewhere in the input's chain, as qemu_measure counts
     * them: each run of data extended to the end of its last cluster. Runs that read as zeroes are
     * skipped. A raw input reports all of itself as data; there all-zero pieces of a file system
     * block (4 KiB) or cluster, whichever is larger, stand in for the holes qemu-img finds with
     * SEEK_DATA.
     */
    private static long allocatedClusterBytes(BlockDriver input, long clusterSize) throws IOException {
        long size = input.size();
        long required = 0;
        long unit = Math.max(clusterSize, 4096);
        byte[] buffer = input instanceof Qcow2Image ? null : new byte[(int) unit];
        for (long offset = 0; offset < size; ) {
            BlockStatus status = input.blockStatus(offset, size - offset);
            long length = status.length();
            if (!status.zero() && status.data() && status.allocated()) {
                if (buffer != null) {
                    length = Math.min(length, roundUp(offset + 1, unit) - offset);
                    int n = (int) Math.min(length, size - offset);
                    input.read(offset, buffer, 0, n);
                    if (isZero(buffer, n)) {
                        offset += length;
                        continue;
                    }
                }
                length = roundUp(offset + length, clusterSize) - offset;
                required += offset % clusterSize + length;
            }
            offset += length;
        }
        return required;
    }

    /** qcow2_calc_prealloc_size: header, L2 tables, L1 table, refcount structures and the data. */
    static long preallocatedSize(long totalSize, long clusterSize, int refcountOrder, int l2EntrySize) {
        long aligned = roundUp(totalSize, clusterSize);
        long meta = clusterSize;
        long l2Entries = roundUp(aligned / clusterSize, clusterSize / l2EntrySize);
        meta += l2Entries * l2EntrySize;
        long l1Entries = roundUp(l2Entries * l2EntrySize / clusterSize, clusterSize / 8);
        meta += l1Entries * 8;
        meta += refcountMetadataSize((meta + aligned) / clusterSize, clusterSize, refcountOrder);
        return meta + aligned;
    }

    /** qcow2_refcount_metadata_size: the fixed point where the refcount blocks and table count themselves. */
    static long refcountMetadataSize(long clusters, long clusterSize, int refcountOrder) {
        long blocksPerTableCluster = clusterSize / 8;
        long refcountsPerBlock = clusterSize * 8 / (1L << refcountOrder);
        long table = 0;
        long blocks = 0;
        long n = 0;
        long last;
        do {
            last = n;
            blocks = divideRoundingUp(clusters + table + blocks, refcountsPerBlock);
            table = divideRoundingUp(blocks, blocksPerTableCluster);
            n = clusters + blocks + table;
        } while (n != last);
        return (blocks + table) * clusterSize;
    }

    /** QEMU's block layer sees a raw file's length rounded up to whole 512-byte sectors. */
    private static long sectorAligned(BlockDriver input) {
        return input.format().equals("raw") ? roundUp(input.size(), 512) : input.size();
    }

    private static boolean isZero(byte[] buffer, int length) {
        for (int i = 0; i < length; i++) {
            if (buffer[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static long roundUp(long value, long alignment) {
        return divideRoundingUp(value, alignment) * alignment;
    }

    private static long divideRoundingUp(long value, long divisor) {
        return (value + divisor - 1) / divisor;
    }
}
