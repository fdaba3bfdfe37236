package dev.jvirt.img;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * qemu-img's per-subcommand options: short flags with or without a value ({@code -f qcow2},
 * {@code -p}), a few long ones ({@code --output=json}), then positional arguments.
 */
final class Arguments {

    final Map<String, String> options = new HashMap<>();
    final List<String> positional = new ArrayList<>();

    static Arguments parse(String command, List<String> args, Set<String> withValue, Set<String> flags) throws UsageException {
        Arguments parsed = new Arguments();
        boolean optionsEnded = false;
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            if (optionsEnded) {
                parsed.positional.add(arg);
            } else if (arg.equals("--")) {
                optionsEnded = true; // getopt's end of options: "resize img -- -1G"
            } else if (arg.startsWith("--") && arg.length() > 2) {
                int equals = arg.indexOf('=');
                String key = equals < 0 ? arg : arg.substring(0, equals);
                if (withValue.contains(key)) {
                    if (equals >= 0) {
                        parsed.options.put(key, arg.substring(equals + 1));
                    } else if (i + 1 < args.size()) {
                        parsed.options.put(key, args.get(++i));
                    } else {
                        throw new UsageException(command + ": option '" + key + "' requires an argument");
                    }
                } else if (flags.contains(key)) {
                    parsed.options.put(key, "");
                } else {
                    throw new UsageException(command + ": unrecognized option '" + arg + "'");
                }
            } else if (arg.startsWith("-") && arg.length() > 1) {
                String key = arg.substring(0, 2);
                if (withValue.contains(key)) {
                    String value = arg.length() > 2 ? arg.substring(2) : (i + 1 < args.size() ? args.get(++i) : null);
                    if (value == null) {
                        throw new UsageException(command + ": option requires an argument -- '" + key.charAt(1) + "'");
                    }
                    parsed.options.merge(key, value, (a, b) -> key.equals("-o") ? a + "," + b : b);
                } else if (flags.contains(arg)) {
                    parsed.options.put(arg, "");
                } else {
                    throw new UsageException(command + ": invalid option -- '" + arg.substring(1) + "'");
                }
            } else {
                parsed.positional.add(arg);
            }
        }
        return parsed;
    }

    String get(String key) {
        return options.get(key);
    }

    boolean has(String key) {
        return options.containsKey(key);
    }
}
