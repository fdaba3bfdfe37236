package dev.jvirt.img;

/** qemu-img's size syntax: bytes by default, or a number with a k/M/G/T/P/E binary suffix. */
final class Sizes {

    private Sizes() {
    }

    static long parse(String text) throws UsageException {
        String value = text.trim();
        int shift = 0;
        if (!value.isEmpty()) {
            switch (Character.toUpperCase(value.charAt(value.length() - 1))) {
                case 'B' -> shift = -1;
                case 'K' -> shift = 10;
                case 'M' -> shift = 20;
                case 'G' -> shift = 30;
                case 'T' -> shift = 40;
                case 'P' -> shift = 50;
                case 'E' -> shift = 60;
                default -> { }
            }
        }
        if (shift != 0) {
            value = value.substring(0, value.length() - 1);
        }
        try {
            double number = Double.parseDouble(value);
            double bytes = number * (shift > 0 ? (double) (1L << shift) : 1);
            if (number < 0 || value.contains("e") || value.contains("E") || bytes >= 9.2e18) {
                throw new NumberFormatException();
            }
            return (long) bytes;
        } catch (NumberFormatException e) {
            throw new UsageException("Invalid image size specified. You may use k, M, G, T, P or E suffixes for"
                    + " kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
        }
    }

    /** qemu-img's human form: "1 GiB", "64 MiB", "1.5 KiB". */
    static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        if (unit == 0) {
            return bytes + " B";
        }
        String text = String.format("%.3g", value);
        if (text.contains(".")) {
            text = text.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return text + " " + units[unit];
    }
}
