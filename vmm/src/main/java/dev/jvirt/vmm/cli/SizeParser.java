package dev.jvirt.vmm.cli;

/** QEMU's size syntax: a number with an optional binary suffix (K, M, G, T); the default unit varies. */
public final class SizeParser {

    private SizeParser() {
    }

    public static long parse(String option, String text, long defaultUnit) throws UsageException {
        String value = text.trim();
        if (value.isEmpty()) {
            throw new UsageException(option + ": missing size");
        }
        long unit = defaultUnit;
        char last = Character.toUpperCase(value.charAt(value.length() - 1));
        int shift = switch (last) {
            case 'B' -> 0;
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> -1;
        };
        if (shift >= 0) {
            unit = 1L << shift;
            value = value.substring(0, value.length() - 1);
        }
        try {
            double number = Double.parseDouble(value);
            if (!(number > 0) || value.contains("e") || value.contains("E") || number * unit > Long.MAX_VALUE / 2) {
                throw new NumberFormatException();
            }
            return (long) (number * unit);
        } catch (NumberFormatException e) {
            throw new UsageException(option + ": invalid size '" + text + "'");
        }
    }
}
