package dev.jvirt.daemon.rpc;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;

/**
 * A stream socket (a TLS socket, whose records the JDK frames) seen as the ByteChannel an
 * RpcConnection reads and writes. One thread may read while another writes, as SSLSocket allows.
 */
final class SocketByteChannel implements ByteChannel {

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    SocketByteChannel(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
    }

    @Override
    public int read(ByteBuffer target) throws IOException {
        if (!target.hasRemaining()) {
            return 0;
        }
        byte[] bytes = target.hasArray() ? target.array() : new byte[target.remaining()];
        int offset = target.hasArray() ? target.arrayOffset() + target.position() : 0;
        int count = in.read(bytes, offset, target.remaining());
        if (count > 0) {
            if (target.hasArray()) {
                target.position(target.position() + count);
            } else {
                target.put(bytes, 0, count);
            }
        }
        return count;
    }

    @Override
    public int write(ByteBuffer source) throws IOException {
        int count = source.remaining();
        if (source.hasArray()) {
            out.write(source.array(), source.arrayOffset() + source.position(), count);
            source.position(source.limit());
        } else {
            byte[] bytes = new byte[count];
            source.get(bytes);
            out.write(bytes);
        }
        out.flush();
        return count;
    }

    @Override
    public boolean isOpen() {
        return !socket.isClosed();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
