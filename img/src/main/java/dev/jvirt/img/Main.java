package dev.jvirt.img;

import java.io.IOException;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/**
 * {@code jvirt-img}: qemu-img's command line over jvirt's block layer. Errors are one line on
 * stderr and exit status 1, as with qemu-img.
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0) {
            err.println("jvirt-img: Not enough arguments");
            err.println("Try 'jvirt-img --help' for more information");
            return 1;
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        try {
            return switch (args[0]) {
                case "create" -> CreateCommand.run(rest, out);
                case "info" -> InfoCommand.run(rest, out);
                case "convert" -> ConvertCommand.run(rest, out);
                case "map" -> MapCommand.run(rest, out);
                case "check" -> CheckCommand.run(rest, out, err);
                case "resize" -> ResizeCommand.run(rest, out, err);
                case "compare" -> CompareCommand.run(rest, out, err);
                case "rebase" -> RebaseCommand.run(rest, out);
                case "commit" -> CommitCommand.run(rest, out);
                case "measure" -> MeasureCommand.run(rest, out);
                case "snapshot" -> SnapshotCommand.run(rest, out);
                case "amend" -> AmendCommand.run(rest);
                case "--help", "-h", "help" -> {
                    out.println("usage: jvirt-img [create|info|check|convert|map|resize|compare|rebase|commit|measure|snapshot|amend] ... (the qemu-img syntax)");
                    yield 0;
                }
                default -> throw new UsageException("Command not found: " + args[0]);
            };
        } catch (UsageException | IOException e) {
            err.println("jvirt-img: " + e.getMessage());
            return 1;
        } catch (RuntimeException e) {
            err.println("jvirt-img: internal error: " + e);
            return 1;
        }
    }
}
