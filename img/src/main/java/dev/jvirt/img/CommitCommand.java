package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Emptier;
import dev.jvirt.block.qcow2.Qcow2Header;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code commit [-f fmt] [-b base] [-d] [-q] filename}: writes what the layers above the base
 * decide (data, and zeroes for zero clusters) into the base — by default the image's immediate
 * backing file — growing the base first if it is shorter. Then, as qemu-img does unless -d (or -b,
 * which implies -d) is given, empties the image so it reads through to the updated base. The
 * ranges to copy are listed before the base is opened for writing, and the image is emptied only
 * after the base is flushed and closed.
 */
final class CommitCommand {

    private static final int CHUNK = 2 << 20;

    private record Layer(Path path, String format) { }

    private record Range(long offset, long length, boolean zero) { }

    private CommitCommand() {
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("commit", args, Set.of("-f", "-t", "-b", "-r", "--object"),
                Set.of("-d", "-p", "-q", "--image-opts"));
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting one image file name");
        }
        String filename = a.positional.getFirst();
        Path top = Path.of(filename);
        boolean drop = a.has("-d") || a.has("-b");
        List<Layer> chain = chain(top, a.get("-f"));
        int baseIndex = 1;
        if (a.has("-b")) {
            baseIndex = findBase(chain, top, a.get("-b"));
            if (baseIndex < 0) {
                throw new UsageException("Did not find '" + a.get("-b") + "' in the backing chain of '" + filename + "'");
            }
        } else if (chain.size() < 2) {
            throw new UsageException("Image does not have a backing file");
        }
        Layer base = chain.get(baseIndex);

        long topSize;
        List<Range> ranges = new ArrayList<>();
        try (BlockDriver image = Images.open(top, OpenOptions.forReading().withFormat(chain.getFirst().format()))) {
            topSize = image.size();
            long[] sizes = layerSizes(image, baseIndex);
            for (long position = 0; position < topSize; ) {
                BlockStatus status = image.blockStatus(position, topSize - position);
                long length = status.length();
                boolean pastShortLayer = false;
                for (int i = 1; i < baseIndex; i++) {
                    if (position < sizes[i]) {
                        length = Math.min(length, sizes[i] - position);
                    } else {
                        pastShortLayer = true;
                    }
                }
                boolean aboveBase = status.allocated() && status.depth() < baseIndex;
                // Past the end of a layer between the top and the base, QEMU counts the zeroes it
                // reads there as that layer's data, so they are committed as zeroes.
                if (aboveBase || pastShortLayer) {
                    boolean zero = !aboveBase || (status.zero() && !status.data());
                    Range last = ranges.isEmpty() ? null : ranges.getLast();
                    if (last != null && last.zero() == zero && last.offset() + last.length() == position) {
                        ranges.set(ranges.size() - 1, new Range(last.offset(), last.length() + length, zero));
                    } else {
                        ranges.add(new Range(position, length, zero));
                    }
                }
                position += length;
            }
            growBase(base, topSize);
            try (BlockDriver target = Images.open(base.path(), OpenOptions.forWriting().withFormat(base.format()))) {
                copy(image, target, ranges);
                target.flush();
            }
        }
        if (!drop) {
            Qcow2Emptier.makeEmpty(top);
        }
        if (!a.has("-q")) {
            out.println("Image committed.");
        }
        return 0;
    }

    /** The image and its backing files, top first, with their formats as recorded (or probed). */
    private static List<Layer> chain(Path top, String topFormat) throws IOException {
        List<Layer> chain = new ArrayList<>();
        Path path = top;
        String format = topFormat != null ? topFormat : Images.probe(top);
        while (path != null && chain.size() <= Images.MAX_CHAIN_DEPTH) {
            chain.add(new Layer(path, format));
            if (!format.equals("qcow2")) {
                break;
            }
            Qcow2Header header = Qcow2Image.readHeader(path);
            if (header.backingFile() == null) {
                break;
            }
            Path next = Images.resolveBacking(path, header.backingFile());
            if (!Files.exists(next)) {
                throw new IOException("Could not open backing file '" + header.backingFile() + "' of '" + path + "'");
            }
            format = header.backingFormat() != null ? header.backingFormat() : Images.probe(next);
            path = next;
        }
        return chain;
    }

    /** Which layer below the top {@code name} (resolved as qemu-img does, from the top's directory) is. */
    private static int findBase(List<Layer> chain, Path top, String name) throws IOException {
        Path wanted = Images.resolveBacking(top, name);
        if (!Files.exists(wanted)) {
            return -1;
        }
        Path real = wanted.toRealPath();
        for (int i = 1; i < chain.size(); i++) {
            if (chain.get(i).path().toRealPath().equals(real)) {
                return i;
            }
        }
        return -1;
    }

    /** The virtual sizes of the top and the layers below it, down to (not including) the base. */
    private static long[] layerSizes(BlockDriver top, int baseIndex) {
        long[] sizes = new long[baseIndex];
        BlockDriver layer = top;
        for (int i = 0; i < baseIndex && layer != null; i++) {
            sizes[i] = layer.size();
            layer = layer instanceof Qcow2Image qcow2 ? qcow2.backing() : null;
        }
        return sizes;
    }

    private static void growBase(Layer base, long size) throws UsageException, IOException {
        long current;
        long backingSize = -1;
        try (BlockDriver image = Images.open(base.path(), OpenOptions.forReading().withFormat(base.format()))) {
            current = image.size();
            if (image instanceof Qcow2Image qcow2 && qcow2.backing() != null) {
                backingSize = qcow2.backing().size();
            }
        }
        if (current < size) {
            ResizeCommand.resizeImage(base.path(), base.format(), current, size, backingSize);
        }
    }

    private static void copy(BlockDriver from, BlockDriver to, List<Range> ranges) throws IOException {
        byte[] buffer = new byte[CHUNK];
        for (Range range : ranges) {
            if (range.zero()) {
                to.writeZeroes(range.offset(), range.length());
                continue;
            }
            for (long done = 0; done < range.length(); ) {
                int length = (int) Math.min(CHUNK, range.length() - done);
                from.read(range.offset() + done, buffer, 0, length);
                to.write(range.offset() + done, buffer, 0, length);
                done += length;
            }
        }
    }
}
