package dev.jvirt.daemon.rpc;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Decodes XDR (RFC 4506) from one message payload, refusing anything that overruns it. */
public final class XdrReader {

    private final ByteBuffer buffer;

    public XdrReader(ByteBuffer buffer) {
        this.buffer = buffer;
    }

    private void need(long bytes) throws XdrException {
        if (bytes < 0 || bytes > buffer.remaining()) {
            throw new XdrException("message truncated: need " + bytes + " bytes, " + buffer.remaining() + " left");
        }
    }

    public int readInt() throws XdrException {
        need(4);
        return buffer.getInt();
    }

    public long readHyper() throws XdrException {
        need(8);
        return buffer.getLong();
    }

    public boolean readBool() throws XdrException {
        return readInt() != 0;
    }

    public String readString(int max) throws XdrException {
        int length = readInt();
        if (length < 0 || length > max) {
            throw new XdrException("string of " + Integer.toUnsignedString(length) + " bytes exceeds the limit of " + max);
        }
        need(padded(length));
        byte[] bytes = new byte[length];
        buffer.get(bytes);
        buffer.position(buffer.position() + padded(length) - length);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** An optional string (XDR pointer): null when absent. */
    public String readOptionalString(int max) throws XdrException {
        return readBool() ? readString(max) : null;
    }

    public byte[] readFixedOpaque(int length) throws XdrException {
        need(padded(length));
        byte[] bytes = new byte[length];
        buffer.get(bytes);
        buffer.position(buffer.position() + padded(length) - length);
        return bytes;
    }

    public int remaining() {
        return buffer.remaining();
    }

    static int padded(int length) {
        return (length + 3) & ~3;
    }
}
