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
    private static final int EXT_OP_PREFIX = 0x5B, DEVICE_OP = 0x82, OP_REGION_OP = 0x80, FIELD_OP = 0x81;
    private static final int METHOD_OP = 0x14, STORE_OP = 0x70, SHIFT_LEFT_OP = 0x79, AND_OP = 0x7B, NOTIFY_OP = 0x86;
    private static final int IF_OP = 0xA0, ARG0_OP = 0x68;
    private static final int NULL_NAME = 0x00;

    /** RegionSpace byte of OperationRegion (ACPI 6.4, 19.6.100). */
    public static final int SYSTEM_IO = 0x01;
    /** Notify values (ACPI 6.4, 5.6.6): Device Check asks OSPM to re-enumerate, Eject Request to eject. */
    public static final int NOTIFY_DEVICE_CHECK = 1, NOTIFY_EJECT_REQUEST = 3;
    /** DWordAcc (FieldFlags bits 0-3) and the WriteAsZeros update rule (bits 5-6); NoLock is 0. */
    public static final int ACCESS_DWORD = 3;
    public static final int UPDATE_WRITE_AS_ZEROS = 2 << 5;
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

    /** Method(name, argCount, NotSerialized) { terms }; bodies are parsed when run, so later names are fine. */
    public static byte[] method(String name, int argCount, byte[]... terms) {
        if (argCount < 0 || argCount > 7) {
            throw new IllegalArgumentException("a method takes 0-7 arguments: " + argCount);
        }
        return concat(new byte[] {METHOD_OP}, withPkgLength(concat(nameString(name), new byte[] {(byte) argCount}, concat(terms))));
    }

    /** A call of a method already defined (the parser needs its argument count): name(args...). */
    public static byte[] call(String name, byte[]... args) {
        return concat(nameString(name), concat(args));
    }

    /** If (predicate) { terms }: runs the terms when the predicate is non-zero. */
    public static byte[] ifThen(byte[] predicate, byte[]... terms) {
        return concat(new byte[] {(byte) IF_OP}, withPkgLength(concat(predicate, concat(terms))));
    }

    /** Notify(object, value); {@code object} is a name such as "S01". */
    public static byte[] notify(String object, byte[] value) {
        return concat(new byte[] {(byte) NOTIFY_OP}, nameString(object), value);
    }

    /** And(left, right) with no target: the value is the expression's result. */
    public static byte[] and(byte[] left, byte[] right) {
        return concat(new byte[] {AND_OP}, left, right, new byte[] {NULL_NAME});
    }

    /** ShiftLeft(value, count) with no target. */
    public static byte[] shiftLeft(byte[] value, byte[] count) {
        return concat(new byte[] {SHIFT_LEFT_OP}, value, count, new byte[] {NULL_NAME});
    }

    /** Store(value, target), target being a name such as a field unit. */
    public static byte[] store(byte[] value, String target) {
        return concat(new byte[] {STORE_OP}, value, nameString(target));
    }

    /** ArgN inside a method body (0-6). */
    public static byte[] arg(int n) {
        if (n < 0 || n > 6) {
            throw new IllegalArgumentException("no Arg" + n);
        }
        return new byte[] {(byte) (ARG0_OP + n)};
    }

    /** A reference to a named object (a Name, a field unit) used as a value. */
    public static byte[] reference(String name) {
        return nameString(name);
    }

    /** OperationRegion(name, space, offset, length). */
    public static byte[] operationRegion(String name, int space, long offset, long length) {
        return concat(new byte[] {EXT_OP_PREFIX, (byte) OP_REGION_OP}, nameString(name), new byte[] {(byte) space},
                integer(offset), integer(length));
    }

    /** One named field unit of a Field: its 4-character name and width in bits. */
    public record FieldUnit(String name, int bits) {
        public FieldUnit {
            if (name.length() != 4 || bits <= 0) {
                throw new IllegalArgumentException("bad field unit " + name + ", " + bits);
            }
        }
    }

    /** Field(region, access | NoLock | update rule) { units... }, laid out from bit 0 of the region. */
    public static byte[] field(String region, int flags, FieldUnit... units) {
        ByteArrayOutputStream list = new ByteArrayOutputStream();
        for (FieldUnit unit : units) {
            list.writeBytes(unit.name().getBytes(StandardCharsets.US_ASCII));
            list.writeBytes(encodedLength(unit.bits()));
        }
        return concat(new byte[] {EXT_OP_PREFIX, (byte) FIELD_OP},
                withPkgLength(concat(nameString(region), new byte[] {(byte) flags}, list.toByteArray())));
    }

    /** Prefixes {@code body} with its PkgLength, which counts its own bytes too (ACPI 20.2.4). */
    static byte[] withPkgLength(byte[] body) {
        int length = body.length;
        for (int bytes = 1; bytes <= 4; bytes++) {
            if (fits(length + bytes, bytes)) {
                return concat(encode(length + bytes, bytes), body);
            }
        }
        throw new IllegalArgumentException("AML package too large: " + length);
    }

    /** The PkgLength encoding of a plain value, as a field unit's bit width uses it (not counting itself). */
    static byte[] encodedLength(int value) {
        for (int bytes = 1; bytes <= 4; bytes++) {
            if (fits(value, bytes)) {
                return encode(value, bytes);
            }
        }
        throw new IllegalArgumentException("length too large: " + value);
    }

    private static boolean fits(int value, int bytes) {
        return bytes == 1 ? value < 0x40 : value < (1 << (4 + 8 * (bytes - 1)));
    }

    private static byte[] encode(int value, int bytes) {
        if (bytes == 1) {
            return new byte[] {(byte) value};
        }
        byte[] encoded = new byte[bytes];
        encoded[0] = (byte) (((bytes - 1) << 6) | (value & 0x0F));
        for (int i = 1; i < bytes; i++) {
            encoded[i] = (byte) (value >> (4 + 8 * (i - 1)));
        }
        return encoded;
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
