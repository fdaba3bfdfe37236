package dev.jvirt.daemon.rpc;

import dev.jvirt.daemon.remote.RemoteProgram;
import dev.jvirt.daemon.remote.RemoteReplies;
import dev.jvirt.daemon.remote.Session;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One client connection: reads length-prefixed messages, answers calls in order. A length word
 * outside [28, 16 MiB], or a message that does not decode, ends this connection only.
 */
public final class RpcConnection implements Runnable {

    static final int KEEPALIVE_PROGRAM = 0x6b656570;
    private static final int KEEPALIVE_PING = 1;
    private static final int KEEPALIVE_PONG = 2;
    private static final int INITIAL_BUFFER = 64 * 1024;

    /** Events queued for a client that does not read them: beyond this it is disconnected. */
    private static final int MAX_QUEUED_EVENTS = 1024;

    /** libvirtd's max_client_requests default: calls one client may have running at once. */
    private static final int MAX_CALLS_IN_FLIGHT = 5;

    private final java.util.concurrent.Semaphore callsInFlight = new java.util.concurrent.Semaphore(MAX_CALLS_IN_FLIGHT);
    private final ByteChannel channel;
    private final RemoteProgram program;
    private final Session session;
    private final BlockingQueue<byte[]> events = new LinkedBlockingQueue<>(MAX_QUEUED_EVENTS);

    public RpcConnection(ByteChannel channel, RemoteProgram program, boolean readOnlySocket) {
        this.channel = channel;
        this.program = program;
        this.session = new Session(readOnlySocket, this::queueEvent);
    }

    /** Events are written by their own thread, so a slow client never holds up whoever caused the event. */
    private void queueEvent(byte[] packet) {
        if (!events.offer(packet)) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private void writeEvents() {
        try {
            while (channel.isOpen()) {
                write(events.take());
            }
        } catch (IOException | InterruptedException e) {
            // connection over
        }
    }

    @Override
    public void run() {
        Thread eventWriter = Thread.ofVirtual().name("rpc-events").start(this::writeEvents);
        try {
            serve();
        } finally {
            session.closed();
            eventWriter.interrupt();
        }
    }

    private void serve() {
        try (channel) {
            ByteBuffer lengthWord = ByteBuffer.allocate(4);
            while (true) {
                lengthWord.clear();
                if (!readFully(lengthWord)) {
                    return;
                }
                int length = lengthWord.getInt(0);
                if (length < 4 + RpcMessage.HEADER_SIZE || length > RpcMessage.MAX_MESSAGE) {
                    return; // garbage or an absurd size: drop the client before allocating anything
                }
                ByteBuffer packet = readBody(length - 4);
                handle(RpcMessage.decode(packet));
            }
        } catch (IOException e) {
            // client gone or protocol violation: this connection ends, the daemon goes on
        }
    }

    private void handle(RpcMessage message) throws IOException {
        if (message.program() == KEEPALIVE_PROGRAM) {
            if (message.procedure() == KEEPALIVE_PING) {
                write(RpcMessage.encode(KEEPALIVE_PROGRAM, 1, KEEPALIVE_PONG, RpcMessage.TYPE_MESSAGE, 0, RpcMessage.STATUS_OK, new byte[0]));
            }
            return;
        }
        if (message.type() != RpcMessage.TYPE_CALL) {
            return; // clients send only calls (and keepalives); ignore anything else
        }
        // Each call runs on its own virtual thread, as libvirtd's workers do, so a slow call (starting
        // a VM) does not hold up keepalive PONGs or other calls; a few at a time per client at most.
        try {
            callsInFlight.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
        Thread.ofVirtual().name("rpc-call").start(() -> {
            try {
                write(RemoteReplies.answer(program, message, session));
            } catch (IOException e) {
                // the client went away before its reply
            } finally {
                callsInFlight.release();
            }
        });
    }

    /**
     * Reads a message body, growing the buffer only as bytes arrive: a length word alone must not
     * make the daemon allocate 16 MiB, or a thousand idle clients could exhaust its memory.
     */
    private ByteBuffer readBody(int size) throws IOException {
        ByteBuffer body = ByteBuffer.allocate(Math.min(size, INITIAL_BUFFER));
        while (true) {
            if (!readFully(body)) {
                throw new EOFException("connection closed mid-message");
            }
            if (body.capacity() == size) {
                return body.flip();
            }
            ByteBuffer bigger = ByteBuffer.allocate((int) Math.min(size, body.capacity() * 4L));
            body.flip();
            bigger.put(body);
            body = bigger;
        }
    }

    private boolean readFully(ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                if (buffer.position() == 0) {
                    return false;
                }
                throw new EOFException("connection closed mid-message");
            }
        }
        return true;
    }

    private synchronized void write(byte[] packet) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(packet);
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
