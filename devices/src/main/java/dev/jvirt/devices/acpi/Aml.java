package dev.jvirt.devices.acpi;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The few AML constructs jvirt's DSDT needs (ACPI 6.4, chapter 20 "ACPI Machine Language"),
 * each returning its encoded bytes so callers compose them like ASL source.
 */
public final class Aml {

    private static final int ZERO_OP = 0x00, ONE_OP = 0x01, ONES_OP = 0xFF;
    private static final int BYTE_PREFIX = 0x0A, WORD_PREFIX = 0x0B, DWORD_PREFIX = 0x0C, STRING_PREFIX = 0x0D, QWORD_PREFIX = 0x0E;
    private static final int NAME_OP = 0x08, SCOPE_OP = 0x10, BUFFER_OP = 0x11, PACKAGE_OP = 0x12;
    private static final int EXT_OP_PREFIX = 0x5B, DEVICE_OP = 0x82;
    private static final int ROOT_CHAR = 0x5C, DUAL_NAME_PREFIX = 0x2E, MULTI_NAME_PREFIX = 0x2F;

    private Aml() {
    }

    public static byte[] integer(long value) {
        if (value == 0) {
            return new byte[] {ZERO_OP};
        }
        if (value == 1) {
            return new byte[] {ONE_OP};
        }
        if (value == -1) {
            return new byte[] {(byte) ONES_OP};
        }
        if ((value & ~0xFFL) == 0) {
            return new byte[] {BYTE_PREFIX, (byte) value};
        }
        if ((value & ~0xFFFFL) == 0) {
            return concat(new byte[] {WORD_PREFIX}, le(value, 2));
        }
        if ((value & ~0xFFFF_FFFFL) == 0) {
            return concat(new byte[] {DWORD_PREFIX}, le(value, 4));
        }
        return concat(new byte[] {QWORD_PREFIX}, le(value, 8));
    }

    public static byte[] string(String value) {
        return concat(new byte[] {STRING_PREFIX}, value.getBytes(StandardCharsets.US_ASCII), new byte[] {0});
    }

    /** A compressed EISA ID such as "PNP0A03", as the DWord integer ASL's EisaId() produces. */
    public static byte[] eisaId(String id) {
        if (id.length() != 7) {
            throw new IllegalArgumentException("EISA ID must be 7 characters: " + id);
        }
        int vendor = ((id.charAt(0) - 0x40) << 10) | ((id.charAt(1) - 0x40) << 5) | (id.charAt(2) - 0x40);
        int product = Integer.parseInt(id.substring(3), 16);
        // Stored big-endian per byte pair: vendor high byte, vendor low byte, product high, product low.
        long value = ((vendor >> 8) & 0xFF) | ((vendor & 0xFF) << 8) | (((product >> 8) & 0xFF) << 16) | ((long) (product & 0xFF) << 24);
        return concat(new byte[] {DWORD_PREFIX}, le(value, 4));
    }

    /** A name path: "\\_SB_.PCI0", "_HID", "\\_S5_"; segments shorter than four are padded with '_'. */
    public static byte[] nameString(String path) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String rest = path;
        if (rest.startsWith("\\")) {
            out.write(ROOT_CHAR);
            rest = rest.substring(1);
        }
        String[] segments = rest.split("\\.");
        if (segments.length == 2) {
            out.write(DUAL_NAME_PREFIX);
        } else if (segments.length > 2) {
            out.write(MULTI_NAME_PREFIX);
            out.write(segments.length);
        }
        for (String segment : segments) {
            if (segment.isEmpty() || segment.length() > 4) {
                throw new IllegalArgumentException("bad name segment '" + segment + "' in " + path);
            }
            String padded = (segment + "____").substring(0, 4);
            out.writeBytes(padded.getBytes(StandardCharsets.US_ASCII));
        }
        return out.toByteArray();
    }

    public static byte[] name(String name, byte[] value) {
        return concat(new byte[] {NAME_OP}, nameString(name), value);
    }

    public static byte[] scope(String name, byte[]... terms) {
        return concat(new byte[] {SCOPE_OP}, withPkgLength(concat(nameString(name), concat(terms))));
    }

    public static byte[] device(String name, byte[]... terms) {
        return concat(new byte[] {EXT_OP_PREFIX, (byte) DEVICE_OP}, withPkgLength(concat(nameString(name), concat(terms))));
    }

    public static byte[] packageOf(byte[]... elements) {
        if (elements.length > 255) {
            throw new IllegalArgumentException("package too large");
        }
        return concat(new byte[] {PACKAGE_OP}, withPkgLength(concat(new byte[] {(byte) elements.length}, concat(elements))));
    }

    public static byte[] buffer(byte[] contents) {
        return concat(new byte[] {BUFFER_OP}, withPkgLength(concat(integer(contents.length), contents)));
    }

    /** Prefixes {@code body} with its PkgLength, which counts its own bytes too (ACPI 20.2.4). */
    static byte[] withPkgLength(byte[] body) {
        int length = body.length;
        if (length + 1 < 0x40) {
            return concat(new byte[] {(byte) (length + 1)}, body);
        }
        for (int bytes = 2; bytes <= 4; bytes++) {
            int total = length + bytes;
            if (total < (1 << (4 + 8 * (bytes - 1)))) {
                byte[] encoded = new byte[bytes];
                encoded[0] = (byte) (((bytes - 1) << 6) | (total & 0x0F));
                for (int i = 1; i < bytes; i++) {
                    encoded[i] = (byte) (total >> (4 + 8 * (i - 1)));
                }
                return concat(encoded, body);
            }
        }
        throw new IllegalArgumentException("AML package too large: " + length);
    }

    static byte[] le(long value, int bytes) {
        byte[] out = new byte[bytes];
        for (int i = 0; i < bytes; i++) {
            out[i] = (byte) (value >>> (8 * i));
        }
        return out;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }
}
