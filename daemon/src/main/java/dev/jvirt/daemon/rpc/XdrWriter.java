package dev.jvirt.daemon.rpc;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Encodes XDR (RFC 4506): big-endian 4-byte units, strings and opaques padded to 4 bytes. */
public final class XdrWriter {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public XdrWriter writeInt(int value) {
        out.write(value >>> 24);
        out.write(value >>> 16);
        out.write(value >>> 8);
        out.write(value);
        return this;
    }

    public XdrWriter writeHyper(long value) {
        writeInt((int) (value >>> 32));
        return writeInt((int) value);
    }

    public XdrWriter writeBool(boolean value) {
        return writeInt(value ? 1 : 0);
    }

    public XdrWriter writeString(String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        writeInt(bytes.length);
        return writeOpaqueBytes(bytes);
    }

    public XdrWriter writeOptionalString(String value) {
        writeBool(value != null);
        return value == null ? this : writeString(value);
    }

    public XdrWriter writeFixedOpaque(byte[] bytes) {
        return writeOpaqueBytes(bytes);
    }

    private XdrWriter writeOpaqueBytes(byte[] bytes) {
        out.writeBytes(bytes);
        for (int i = bytes.length; i < XdrReader.padded(bytes.length); i++) {
            out.write(0);
        }
        return this;
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }
}
