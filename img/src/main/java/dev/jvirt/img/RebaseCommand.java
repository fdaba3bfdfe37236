package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2BackingChanger;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * {@code rebase [-f fmt] [-u] -b backing [-F backing_fmt] filename}. Unsafe mode (-u) only
 * rewrites the backing file name in the header. Safe mode first copies into the image every
 * cluster it does not allocate itself whose content differs between the old and the new backing
 * chain (the old content, so the guest sees no change at any point), then rewrites the header.
 * {@code -b ""} removes the backing file, copying in everything the old chain provided.
 */
final class RebaseCommand {

    private static final int CHUNK = 2 << 20;

    private RebaseCommand() {
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("rebase", args, Set.of("-f", "-b", "-F", "-t", "-T", "--object"),
                Set.of("-u", "-q", "-p", "-U", "--image-opts", "--force-share"));
        if (!a.has("-b") && !a.has("-u")) {
            throw new UsageException("Must specify backing file (-b) or use unsafe mode (-u)");
        }
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting one image file name");
        }
        Path path = Path.of(a.positional.getFirst());
        String backing = a.has("-b") && !a.get("-b").isEmpty() ? a.get("-b") : null;
        String backingFormat = a.get("-F");
        boolean unsafe = a.has("-u");
        String format = a.has("-f") ? a.get("-f") : Images.probe(path);
        if (!format.equals("qcow2")) {
            if (!format.equals("raw")) {
                throw new UsageException("Unknown driver '" + format + "'");
            }
            throw new UsageException("Could not change the backing file to '" + backing + "': Operation not supported");
        }
        if (backing != null && backingFormat == null) {
            // qemu-img refuses too, since 6.1 (it would otherwise record a probed format).
            throw new UsageException("Could not change the backing file to '" + backing + "': backing format must be specified");
        }
        if (!unsafe) {
            copyDifferences(path, backing, backingFormat);
        }
        Qcow2BackingChanger.change(path, backing, backingFormat);
        return 0;
    }

    /** Makes the image itself hold every cluster where the new backing chain would read differently. */
    private static void copyDifferences(Path path, String backing, String backingFormat) throws IOException {
        BlockDriver newBacking = null;
        if (backing != null) {
            Path newPath = Images.resolveBacking(path, backing);
            try {
                if (!Files.exists(newPath)) {
                    throw new IOException("Could not open '" + backing + "': No such file or directory");
                }
                newBacking = Images.open(newPath, OpenOptions.forReading().withFormat(backingFormat));
            } catch (IOException e) {
                throw new IOException("Could not open new backing file '" + backing + "': " + e.getMessage(), e);
            }
        }
        try (BlockDriver image = Images.open(path, OpenOptions.forWriting().withFormat("qcow2"))) {
            Qcow2Image top = (Qcow2Image) image;
            if (top.backing() == null && newBacking == null) {
                return;
            }
            long size = image.size();
            long newSize = newBacking == null ? 0 : newBacking.size();
            long oldSize = top.backing() == null ? 0 : top.backing().size();
            int cluster = top.header().clusterSize();
            byte[] old = new byte[CHUNK];
            byte[] replacement = new byte[CHUNK];
            long position = 0;
            while (position < size) {
                BlockStatus status = image.blockStatus(position, Math.min(CHUNK, size - position));
                int length = (int) Math.min(status.length(), CHUNK);
                if (status.allocated() && status.depth() == 0) {
                    position += length;   // the image decides these bytes itself
                    continue;
                }
                image.read(position, old, 0, length);
                int fromNew = (int) Math.max(0, Math.min(length, newSize - position));
                if (fromNew > 0) {
                    newBacking.read(position, replacement, 0, fromNew);
                }
                Arrays.fill(replacement, fromNew, length, (byte) 0);
                copyDifferingClusters(image, position, old, replacement, length, cluster, oldSize);
                position += length;
            }
            image.flush();
        } finally {
            if (newBacking != null) {
                newBacking.close();
            }
        }
    }

    /**
     * Writes the old content of each cluster-aligned piece that differs. Writing whole pieces rather
     * than single sectors allocates the same clusters qemu-img's sector writes would (copy-on-write
     * fills the rest of the cluster with the old content anyway).
     */
    private static void copyDifferingClusters(BlockDriver image, long position, byte[] old, byte[] replacement, int length,
                                              int cluster, long oldBackingSize) throws IOException {
        int at = 0;
        while (at < length) {
            int end = (int) Math.min(length, ((position + at) / cluster + 1) * cluster - position);
            boolean pastOldBacking = position + at >= oldBackingSize;
            if (!pastOldBacking && position + end > oldBackingSize) {
                end = (int) (oldBackingSize - position);
            }
            if (!Arrays.equals(old, at, end, replacement, at, end)) {
                if (pastOldBacking) {
                    // Past the old backing file the old content is zeroes by definition: as qemu-img, write
                    // zero clusters there (elsewhere zeroes read from the old chain are copied as data).
                    image.writeZeroes(position + at, end - at);
                } else {
                    image.write(position + at, old, at, end - at);
                }
            }
            at = end;
        }
    }
}
