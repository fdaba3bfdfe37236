package dev.jvirt.img;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code info [-f fmt] [--output=human|json] [--backing-chain] filename}. */
final class InfoCommand {

    /** qemu-img prints JSON with four-space indentation, and every non-ASCII character escaped as backslash-u and four hex digits. */
    static final ObjectWriter JSON = new ObjectMapper().writer(new DefaultPrettyPrinter()
            .withObjectIndenter(new DefaultIndenter("    ", "\n"))
            .withArrayIndenter(new DefaultIndenter("    ", "\n"))
            .withoutSpacesInObjectEntries()
            .withSeparators(com.fasterxml.jackson.core.util.Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(com.fasterxml.jackson.core.util.Separators.Spacing.AFTER)))
            .with(com.fasterxml.jackson.core.json.JsonWriteFeature.ESCAPE_NON_ASCII);

    private InfoCommand() {
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("info", args, Set.of("-f", "--output"), Set.of("--backing-chain", "-U", "--force-share"));
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting one image file name");
        }
        String output = a.has("--output") ? a.get("--output") : "human";
        if (!output.equals("human") && !output.equals("json")) {
            throw new UsageException("--output must be used with human or json as argument.");
        }
        String filename = a.positional.getFirst();
        List<Map<String, Object>> chain = new ArrayList<>();
        try (BlockDriver image = Images.open(Path.of(filename), OpenOptions.forReading().withFormat(a.get("-f")))) {
            BlockDriver layer = image;
            String layerName = filename;
            while (layer != null) {
                Map<String, Object> info = ImageInfo.describe(layerName, layer);
                chain.add(info);
                if (!a.has("--backing-chain") || !(layer instanceof Qcow2Image qcow2) || qcow2.backing() == null) {
                    break;
                }
                layerName = (String) info.get("full-backing-filename");
                layer = qcow2.backing();
            }
        }
        if (output.equals("json")) {
            out.println(JSON.writeValueAsString(a.has("--backing-chain") ? chain : chain.getFirst()));
        } else {
            for (int i = 0; i < chain.size(); i++) {
                if (i > 0) {
                    out.println();
                }
                out.print(ImageInfo.human(chain.get(i)));
            }
        }
        return 0;
    }
}
