package dev.jvirt.vmm.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * QEMU's "key=value,key=value" option syntax, where the first item may be a bare implied value
 * (e.g. {@code -qmp unix:/tmp/q,server,nowait}) and bare flags mean "on" ({@code server}) or, with a
 * "no" prefix, "off" ({@code nowait}). Commas inside a value are written doubled, as in QEMU.
 */
public final class KeyValueOptions {

    private final String option;
    private final Map<String, String> values = new LinkedHashMap<>();

    private KeyValueOptions(String option) {
        this.option = option;
    }

    public static KeyValueOptions parse(String option, String text, String impliedKey, Set<String> flags) throws UsageException {
        KeyValueOptions parsed = new KeyValueOptions(option);
        int index = 0;
        for (String item : splitOnSingleCommas(text)) {
            int equals = item.indexOf('=');
            if (equals < 0) {
                if (index == 0 && impliedKey != null) {
                    parsed.values.put(impliedKey, item);
                } else if (flags.contains(item)) {
                    parsed.values.put(item, "on");
                } else if (item.startsWith("no") && flags.contains(item.substring(2))) {
                    parsed.values.put(item.substring(2), "off");
                } else {
                    throw new UsageException(option + ": invalid parameter '" + item + "'");
                }
            } else {
                parsed.values.put(item.substring(0, equals), item.substring(equals + 1));
            }
            index++;
        }
        return parsed;
    }

    private static java.util.List<String> splitOnSingleCommas(String text) {
        java.util.List<String> items = new java.util.ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ',') {
                if (i + 1 < text.length() && text.charAt(i + 1) == ',') {
                    current.append(',');
                    i++;
                    continue;
                }
                items.add(current.toString());
                current.setLength(0);
            } else {
                current.append(c);
            }
        }
        items.add(current.toString());
        return items;
    }

    public String get(String key) {
        return values.get(key);
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    public boolean flag(String key, boolean defaultValue) throws UsageException {
        String value = values.get(key);
        if (value == null) {
            return defaultValue;
        }
        return switch (value) {
            case "on", "yes", "true" -> true;
            case "off", "no", "false" -> false;
            default -> throw new UsageException(option + ": " + key + "=" + value + ": expected on or off");
        };
    }

    /** Rejects keys this option does not know, naming the first one. */
    public void allowOnly(Set<String> keys) throws UsageException {
        for (String key : values.keySet()) {
            if (!keys.contains(key)) {
                throw new UsageException(option + ": unsupported parameter '" + key + "'");
            }
        }
    }
}
