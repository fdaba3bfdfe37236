package dev.jvirt.img;

import dev.jvirt.block.Images;
import dev.jvirt.block.qcow2.Qcow2Amender;
import dev.jvirt.block.qcow2.Qcow2Header;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code amend [-f qcow2] [-q] -o compat=0.10|1.1,lazy_refcounts=on|off FILE}: changes the
 * compatibility level and lazy refcounts in place. Options qemu-img only takes at creation are
 * refused with its messages; the ones qemu-img can amend and we cannot yet say so.
 */
final class AmendCommand {

    private static final Set<String> CREATION_ONLY = Set.of("cluster_size", "compression_type", "preallocation", "encryption",
            "extended_l2", "encrypt.format", "nocow", "cluster-size");
    private static final Set<String> NOT_YET = Set.of("size", "backing_file", "backing_fmt", "data_file", "data_file_raw",
            "encrypt.keyslot", "encrypt.state", "encrypt.old-secret", "encrypt.new-secret", "encrypt.iter-time");

    private AmendCommand() {
    }

    static int run(List<String> args) throws UsageException, IOException {
        Arguments a = Arguments.parse("amend", args, Set.of("-f", "-o", "-t"), Set.of("-q", "-p", "-U", "--force"));
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting one image file name");
        }
        if (!a.has("-o") || a.get("-o").isEmpty()) {
            throw new UsageException("Must specify options (-o)");
        }
        Path path = Path.of(a.positional.getFirst());
        if (!Files.exists(path)) {
            throw new UsageException("Could not open '" + path + "': No such file or directory");
        }
        String format = a.has("-f") ? a.get("-f") : Images.probe(path);
        if (!format.equals("qcow2")) {
            throw new UsageException("Format driver '" + format + "' does not support option amendment");
        }
        Map<String, String> options = CreateCommand.parseOptions(a.get("-o"));
        Qcow2Header header = Qcow2Image.readHeader(path);
        Integer version = null;
        Boolean lazy = null;
        for (Map.Entry<String, String> option : options.entrySet()) {
            String key = option.getKey();
            String value = option.getValue();
            switch (key) {
                case "compat" -> version = switch (value) {
                    case "0.10", "v2" -> 2;
                    case "1.1", "v3" -> 3;
                    default -> throw new UsageException("Unknown compatibility level " + value);
                };
                case "lazy_refcounts" -> lazy = switch (value) {
                    case "on", "true", "yes" -> true;
                    case "off", "false", "no" -> false;
                    default -> throw new UsageException("Parameter 'lazy_refcounts' expects 'on' or 'off'");
                };
                case "refcount_bits" -> {
                    if (!value.equals(Integer.toString(header.refcountBits()))) {
                        throw new UsageException("Changing refcount_bits is not supported yet (the image has "
                                + header.refcountBits() + "-bit refcounts)");
                    }
                }
                default -> {
                    if (CREATION_ONLY.contains(key)) {
                        throw new UsageException("Invalid parameter '" + key + "'\nThis option is only supported for image creation");
                    }
                    if (NOT_YET.contains(key)) {
                        throw new UsageException("Amending " + key + " is not supported yet"
                                + (key.equals("size") ? " (use resize)" : key.startsWith("backing") ? " (use rebase -u)" : ""));
                    }
                    throw new UsageException("Invalid parameter '" + key + "'");
                }
            }
        }
        Qcow2Amender.amend(path, version, lazy);
        return 0;
    }
}
