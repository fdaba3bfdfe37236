package dev.jvirt.block.vmdk;

import dev.jvirt.block.ImageException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text descriptor of a VMDK disk: either a file of its own ("# Disk DescriptorFile", e.g.
 * monolithicFlat beside its -flat extent) or embedded in a sparse extent. Only what reading needs
 * is kept: the create type, the content IDs, a parent hint (refused: no vmdk backing chains yet)
 * and the extent lines.
 */
// createType is null when the text has none; a descriptor file without one is refused by VmdkImage.
record VmdkDescriptor(String createType, long cid, long parentCid, String parentFileNameHint, List<Extent> extents) {

    /** More text than any descriptor has; QEMU reads at most 1 MiB of it. */
    static final int MAX_SIZE = 1 << 20;
    /** A 2 TB twoGbMaxExtent disk has about 1000 extents. */
    static final int MAX_EXTENTS = 10_000;
    static final long NO_PARENT = 0xffffffffL;

    /** One extent line: {@code RW 8192 FLAT "disk-flat.vmdk" 0}. */
    record Extent(String access, long sectors, String type, String fileName, long offset) { }

    private static final Pattern EXTENT = Pattern.compile(
            "(RW|RDONLY|NOACCESS)\\s+(\\d+)\\s+([A-Z]+)(?:\\s+\"([^\"]*)\"(?:\\s+(\\d+))?)?\\s*");
    private static final Pattern KEY_VALUE = Pattern.compile("([A-Za-z][A-Za-z0-9_.]*)\\s*=\\s*(.*)");

    /**
     * Parses the text in {@code raw[0, length)} (up to a NUL). The extent lines of a descriptor
     * embedded in a sparse extent only describe that file, so {@code withExtents} false skips them
     * unchecked, as QEMU does.
     */
    static VmdkDescriptor parse(String name, byte[] raw, int length, boolean withExtents) throws ImageException {
        int end = 0;
        while (end < length && raw[end] != 0) {
            end++; // the embedded descriptor is padded with NULs
        }
        String text = new String(raw, 0, end, StandardCharsets.UTF_8);
        String createType = null;
        long cid = 0;
        long parentCid = NO_PARENT;
        String parentHint = null;
        List<Extent> extents = new ArrayList<>();
        for (String rawLine : text.split("\n")) {
            String line = rawLine.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            Matcher extent = EXTENT.matcher(line);
            if (extent.matches()) {
                if (!withExtents) {
                    continue;
                }
                extents.add(parseExtent(name, line, extent));
                if (extents.size() > MAX_EXTENTS) {
                    throw new ImageException(name + ": VMDK descriptor lists more than " + MAX_EXTENTS + " extents");
                }
                continue;
            }
            Matcher keyValue = KEY_VALUE.matcher(line);
            if (!keyValue.matches()) {
                continue; // unknown lines are ignored, as VMware and QEMU do
            }
            String value = unquote(keyValue.group(2).strip());
            switch (keyValue.group(1)) {
                case "createType" -> createType = value;
                case "CID" -> cid = parseHex(name, "CID", value);
                case "parentCID" -> parentCid = parseHex(name, "parentCID", value);
                case "parentFileNameHint" -> parentHint = value;
                default -> { }
            }
        }
        return new VmdkDescriptor(createType, cid, parentCid, parentHint, List.copyOf(extents));
    }

    private static Extent parseExtent(String name, String line, Matcher m) throws ImageException {
        long sectors;
        long offset = 0;
        try {
            sectors = Long.parseLong(m.group(2));
            if (m.group(5) != null) {
                offset = Long.parseLong(m.group(5));
            }
        } catch (NumberFormatException e) {
            throw new ImageException(name + ": Invalid extent line: " + line);
        }
        if (sectors <= 0 || sectors > VmdkSparseHeader.MAX_CAPACITY || offset > VmdkSparseHeader.MAX_CAPACITY) {
            throw new ImageException(name + ": Invalid extent line (absurd size or offset): " + line);
        }
        String type = m.group(3);
        if (!type.equals("ZERO") && m.group(4) == null) {
            throw new ImageException(name + ": Invalid extent line (no file name): " + line);
        }
        if (type.equals("FLAT") && m.group(5) == null) {
            throw new ImageException(name + ": Invalid extent line (a FLAT extent needs an offset): " + line);
        }
        return new Extent(m.group(1), sectors, type, m.group(4), offset);
    }

    private static String unquote(String value) {
        return value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"") ? value.substring(1, value.length() - 1) : value;
    }

    private static long parseHex(String name, String key, String value) throws ImageException {
        try {
            long parsed = Long.parseLong(value, 16);
            if (parsed < 0 || parsed > 0xffffffffL) {
                throw new NumberFormatException();
            }
            return parsed;
        } catch (NumberFormatException e) {
            throw new ImageException(name + ": invalid " + key + " '" + value + "' in the VMDK descriptor");
        }
    }

    /**
     * QEMU's vmdk_probe for text, so that probing agrees with qemu-img: after comment lines and
     * lines of spaces, the first line must be "version=1", "version=2" or "version=3".
     */
    static boolean looksLikeDescriptor(byte[] head, int length) {
        int p = 0;
        while (p < length) {
            if (head[p] == '#') {
                while (p < length && head[p] != '\n') {
                    p++;
                }
                p++;
                continue;
            }
            if (head[p] == ' ') {
                while (p < length && head[p] == ' ') {
                    p++;
                }
                if (p < length && head[p] == '\r') {
                    p++;
                }
                if (p >= length || head[p] != '\n') {
                    return false;
                }
                p++;
                continue;
            }
            String rest = new String(head, p, Math.min(11, length - p), StandardCharsets.US_ASCII);
            for (String version : new String[] {"1", "2", "3"}) {
                if (rest.startsWith("version=" + version + "\n") || rest.startsWith("version=" + version + "\r\n")) {
                    return true;
                }
            }
            return false;
        }
        return false;
    }
}
