package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** {@code map [-f fmt] [--output=human|json] filename}: the allocation map, merged as qemu-img merges it. */
final class MapCommand {

    private MapCommand() {
    }

    private record Extent(long start, long length, int depth, boolean present, boolean zero, boolean data, long offset) {

        boolean continuedBy(Extent next) {
            return depth == next.depth && present == next.present && zero == next.zero && data == next.data
                    && (offset < 0 ? next.offset < 0 : next.offset == offset + length);
        }
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("map", args, Set.of("-f", "--output"), Set.of("-U", "--force-share"));
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting one image file name");
        }
        String output = a.has("--output") ? a.get("--output") : "human";
        String filename = a.positional.getFirst();
        List<Extent> extents = new ArrayList<>();
        List<String> layerNames = new ArrayList<>();
        try (BlockDriver image = Images.open(Path.of(filename), OpenOptions.forReading().withFormat(a.get("-f")))) {
            String name = filename;
            for (BlockDriver layer = image; layer != null; ) {
                layerNames.add(name);
                if (layer instanceof Qcow2Image qcow2 && qcow2.header().backingFile() != null) {
                    name = ImageInfo.fullBackingName(name, qcow2.header().backingFile());
                    layer = qcow2.backing();
                } else {
                    layer = null;
                }
            }
            long position = 0;
            while (position < image.size()) {
                BlockStatus status = image.blockStatus(position, image.size() - position);
                Extent next = new Extent(position, status.length(), status.depth(), status.allocated(), status.zero(),
                        status.data(), status.data() ? status.hostOffset() : -1);
                Extent last = extents.isEmpty() ? null : extents.getLast();
                if (last != null && last.continuedBy(next)) {
                    extents.set(extents.size() - 1, new Extent(last.start, last.length + next.length, last.depth, last.present,
                            last.zero, last.data, last.offset));
                } else {
                    extents.add(next);
                }
                position += status.length();
            }
        }
        switch (output) {
            case "json" -> printJson(extents, out);
            case "human" -> printHuman(extents, layerNames, out);
            default -> throw new UsageException("--output must be used with human or json as argument.");
        }
        return 0;
    }

    private static void printJson(List<Extent> extents, PrintStream out) {
        StringBuilder text = new StringBuilder("[");
        for (int i = 0; i < extents.size(); i++) {
            Extent e = extents.get(i);
            text.append(i == 0 ? "" : ",\n")
                    .append("{ \"start\": ").append(e.start).append(", \"length\": ").append(e.length)
                    .append(", \"depth\": ").append(e.depth).append(", \"present\": ").append(e.present)
                    .append(", \"zero\": ").append(e.zero).append(", \"data\": ").append(e.data);
            if (e.offset >= 0) {
                text.append(", \"offset\": ").append(e.offset);
            }
            text.append('}');
        }
        out.println(text.append(']'));
    }

    private static void printHuman(List<Extent> extents, List<String> layerNames, PrintStream out) {
        out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
        for (Extent e : extents) {
            if (e.data && e.offset >= 0) {
                out.printf("%-16s%-16s%-16s%s%n", hex(e.start), hex(e.length), hex(e.offset),
                        layerNames.get(Math.min(e.depth, layerNames.size() - 1)));
            }
        }
    }

    private static String hex(long value) {
        return value == 0 ? "0" : "0x" + Long.toHexString(value);
    }
}
