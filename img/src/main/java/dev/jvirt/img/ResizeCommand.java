package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Image;
import dev.jvirt.block.qcow2.Qcow2Resizer;

import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code resize [-f fmt] [--shrink] [-q] filename [+|-]size}: raw files are truncated or extended
 * (sparse); qcow2 images change their virtual size in the header, growing the L1 and refcount
 * tables or dropping the clusters past the new end (see {@link Qcow2Resizer}). Shrinking needs
 * --shrink, as with qemu-img. When an overlay grows over a longer backing file the new area is
 * zeroed, so the backing file's data there does not appear (QEMU does the same).
 */
final class ResizeCommand {

    private ResizeCommand() {
    }

    static int run(List<String> args, PrintStream out, PrintStream err) throws UsageException, IOException {
        if (args.size() < 2) {
            throw new UsageException("Not enough arguments");
        }
        // As qemu-img does: the last argument is the size, so "-1G" is not taken for an option.
        String sizeText = args.getLast();
        List<String> rest = new ArrayList<>(args.subList(0, args.size() - 1));
        Arguments a = Arguments.parse("resize", rest, Set.of("-f", "--preallocation", "--object"),
                Set.of("-q", "--shrink", "--image-opts"));
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting image file name and size");
        }
        int relative = 0;
        if (sizeText.startsWith("+")) {
            relative = 1;
            sizeText = sizeText.substring(1);
        } else if (sizeText.startsWith("-")) {
            relative = -1;
            sizeText = sizeText.substring(1);
        }
        long amount = parseSize(sizeText);
        String preallocation = a.has("--preallocation") ? a.get("--preallocation") : "off";
        if (!Set.of("off", "metadata", "falloc", "full").contains(preallocation)) {
            throw new UsageException("Invalid preallocation mode: '" + preallocation + "'");
        }
        Path path = Path.of(a.positional.getFirst());
        long current;
        String format;
        long backingSize = -1;
        try (BlockDriver image = Images.open(path, OpenOptions.forReading().withFormat(a.get("-f")))) {
            format = image.format();
            // QEMU's block layer counts in 512-byte sectors: a raw file's size is rounded up.
            current = format.equals("raw") ? (image.size() + 511) & ~511L : image.size();
            if (image instanceof Qcow2Image qcow2 && qcow2.backing() != null) {
                backingSize = qcow2.backing().size();
            }
        }
        long total = relative == 0 ? amount : current + relative * amount;
        if (total <= 0 || (relative > 0 && total < current)) {
            throw new UsageException("New image size must be positive");
        }
        if (total <= current && !preallocation.equals("off")) {
            throw new UsageException("Preallocation can only be used for growing images");
        }
        if (!preallocation.equals("off")) {
            throw new UsageException("preallocation=" + preallocation + " is not supported yet (only off)");
        }
        if (total < current && !a.has("--shrink")) {
            err.println("jvirt-img: Use the --shrink option to perform a shrink operation.");
            err.println("jvirt-img: warning: Shrinking an image will delete all data beyond the shrunken image's end."
                    + " Before performing such an operation, make sure there is no important data there.");
            return 1;
        }
        resizeImage(path, format, current, total, backingSize);
        if (!a.has("-q")) {
            out.println("Image resized.");
        }
        return 0;
    }

    /**
     * Changes the virtual size of an image already known to be {@code format} and {@code current}
     * bytes long; {@code backingSize} is its backing file's size, or -1.
     */
    static void resizeImage(Path path, String format, long current, long total, long backingSize) throws UsageException, IOException {
        switch (format) {
            case "raw" -> {
                try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
                    file.setLength(total);
                }
            }
            case "qcow2" -> {
                Qcow2Resizer.resize(path, total);
                if (total > current && backingSize > current) {
                    try (BlockDriver image = Images.open(path, OpenOptions.forWriting().withFormat("qcow2"))) {
                        image.writeZeroes(current, total - current);
                        image.flush();
                    }
                }
            }
            default -> throw new UsageException("Image format '" + format + "' does not support resizing");
        }
    }

    private static long parseSize(String text) throws UsageException {
        try {
            return Sizes.parse(text);
        } catch (UsageException e) {
            if (!text.isEmpty() && Character.isDigit(text.charAt(0)) && text.matches("[0-9.]+[kKmMgGtTpPeE]?")) {
                throw new UsageException("New image size must be positive"); // 8E and up wrap negative in qemu-img
            }
            throw new UsageException("Parameter 'size' expects a non-negative number below 2^64");
        }
    }
}
