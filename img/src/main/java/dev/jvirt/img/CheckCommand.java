package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.ImportFormats;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Checker;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code check [-f fmt] [--output=human|json] [-r leaks|all] filename}, with qemu-img's exit
 * codes: 0 clean, 1 the check could not run, 2 corruptions, 3 leaks only.
 */
final class CheckCommand {

    private CheckCommand() {
    }

    static int run(List<String> args, PrintStream out, PrintStream err) throws UsageException, IOException {
        Arguments a = Arguments.parse("check", args, Set.of("-f", "--output", "-r"), Set.of("-q", "-U", "--force-share"));
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting one image file name");
        }
        String repair = a.get("-r");
        if (repair != null && !repair.equals("leaks") && !repair.equals("all")) {
            throw new UsageException("Unknown option value for -r (expecting 'leaks' or 'all'): " + repair);
        }
        String output = a.has("--output") ? a.get("--output") : "human";
        if (!output.equals("human") && !output.equals("json")) {
            throw new UsageException("--output must be used with human or json as argument.");
        }
        String filename = a.positional.getFirst();
        OpenOptions options = (repair == null ? OpenOptions.forReading() : OpenOptions.forWriting()).withFormat(a.get("-f"));
        String probed = a.has("-f") ? a.get("-f") : Images.probe(Path.of(filename));
        if (ImportFormats.NAMES.contains(probed)) {
            // Import formats are only ever read; -r is answered below as qemu-img answers it.
            options = OpenOptions.forReading().withFormat(probed);
        }
        Qcow2Checker.Report report;
        String format;
        try (BlockDriver image = Images.open(Path.of(filename), options)) {
            format = image.format();
            if (image instanceof Qcow2Image qcow2) {
                report = new Qcow2Checker(qcow2).check(repair != null, "all".equals(repair));
            } else if (repair == null && ImportCheck.supports(image)) {
                report = ImportCheck.check(image);
            } else {
                // qemu-img's message and exit status (63) for formats without a check (raw, vpc) or repair.
                err.println("jvirt-img: This image format does not support checks");
                return 63;
            }
        }
        if (output.equals("json")) {
            Map<String, Object> json = new LinkedHashMap<>();
            putIfNonZero(json, "image-end-offset", report.imageEndOffset());
            putIfNonZero(json, "total-clusters", report.totalClusters());
            json.put("check-errors", report.checkErrors());
            putIfNonZero(json, "leaks", report.leaks());
            putIfNonZero(json, "corruptions", report.corruptions());
            putIfNonZero(json, "leaks-fixed", report.leaksFixed());
            putIfNonZero(json, "corruptions-fixed", report.corruptionsFixed());
            putIfNonZero(json, "allocated-clusters", report.allocatedClusters());
            putIfNonZero(json, "fragmented-clusters", report.fragmentedClusters());
            putIfNonZero(json, "compressed-clusters", report.compressedClusters());
            json.put("filename", filename);
            json.put("format", format);
            out.println(InfoCommand.JSON.writeValueAsString(json));
        } else if (!a.has("-q")) {
            report.messages().forEach(err::println);
            printHuman(report, out);
        }
        if (report.checkErrors() > 0) {
            return 1;
        }
        if (report.corruptions() > 0) {
            return 2;
        }
        return report.leaks() > 0 ? 3 : 0;
    }

    private static void putIfNonZero(Map<String, Object> json, String key, long value) {
        if (value != 0) {
            json.put(key, value);
        }
    }

    private static void printHuman(Qcow2Checker.Report r, PrintStream out) {
        if (r.leaksFixed() + r.corruptionsFixed() > 0) {
            out.printf("The following inconsistencies were found and repaired:%n%n    %d leaked clusters%n    %d corruptions%n%n"
                    + "Double checking the fixed image now...%n", r.leaksFixed(), r.corruptionsFixed());
        }
        if (r.corruptions() == 0 && r.leaks() == 0 && r.checkErrors() == 0) {
            out.println("No errors were found on the image.");
        } else {
            if (r.corruptions() > 0) {
                out.printf("%n%d errors were found on the image.%nData may be corrupted, or further writes to the image may corrupt it.%n",
                        r.corruptions());
            }
            if (r.leaks() > 0) {
                out.printf("%n%d leaked clusters were found on the image.%nThis means waste of disk space, but no harm to data.%n", r.leaks());
            }
        }
        if (r.totalClusters() > 0) {
            out.printf("%d/%d = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters%n", r.allocatedClusters(),
                    r.totalClusters(), 100.0 * r.allocatedClusters() / r.totalClusters(),
                    r.allocatedClusters() == 0 ? 0.0 : 100.0 * r.fragmentedClusters() / r.allocatedClusters(),
                    r.allocatedClusters() == 0 ? 0.0 : 100.0 * r.compressedClusters() / r.allocatedClusters());
        }
        if (r.imageEndOffset() > 0) {
            out.println("Image end offset: " + r.imageEndOffset());
        }
    }
}
