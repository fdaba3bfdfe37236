package dev.jvirt.daemon.rpc;

import java.nio.ByteBuffer;

/**
 * One libvirt RPC message (src/rpc/virnetprotocol.x): a 24-byte header — program, version,
 * procedure, type, serial, status — and an XDR payload.
 */
public record RpcMessage(int program, int version, int procedure, int type, int serial, int status, ByteBuffer payload) {

    public static final int TYPE_CALL = 0;
    public static final int TYPE_REPLY = 1;
    public static final int TYPE_MESSAGE = 2;
    public static final int STATUS_OK = 0;
    public static final int STATUS_ERROR = 1;
    public static final int HEADER_SIZE = 24;
    /** VIR_NET_MESSAGE_MAX: nothing larger is ever valid, so a bigger length word ends the connection. */
    public static final int MAX_MESSAGE = 16 * 1024 * 1024;

    public static RpcMessage decode(ByteBuffer packet) throws XdrException {
        if (packet.remaining() < HEADER_SIZE) {
            throw new XdrException("message shorter than its header");
        }
        return new RpcMessage(packet.getInt(), packet.getInt(), packet.getInt(), packet.getInt(), packet.getInt(),
                packet.getInt(), packet.slice());
    }

    /** The packet for a reply to this call: length word, header, payload. */
    public byte[] reply(int status, byte[] body) {
        return encode(program, version, procedure, TYPE_REPLY, serial, status, body);
    }

    public static byte[] encode(int program, int version, int procedure, int type, int serial, int status, byte[] body) {
        ByteBuffer packet = ByteBuffer.allocate(4 + HEADER_SIZE + body.length);
        packet.putInt(4 + HEADER_SIZE + body.length).putInt(program).putInt(version).putInt(procedure).putInt(type)
                .putInt(serial).putInt(status).put(body);
        return packet.array();
    }
}
