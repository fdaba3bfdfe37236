package dev.jvirt.vmm.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvirt.vmm.machine.MachineListener;
import dev.jvirt.vmm.machine.Termination;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;

/**
 * A QMP server on a Unix socket (docs/interop/qmp-spec): greeting, capabilities negotiation,
 * commands, and asynchronous events to every negotiated client. One thread per client; clients
 * are few (a manager, a human with socat).
 */
public final class QmpServer implements MachineListener, AutoCloseable {

    static final ObjectMapper JSON = new ObjectMapper();

    private final Path socketPath;
    private final ServerSocketChannel server;
    private final QmpCommands commands;
    private final Set<QmpSession> sessions = ConcurrentHashMap.newKeySet();
    private final CountDownLatch firstClient = new CountDownLatch(1);

    private QmpServer(Path socketPath, ServerSocketChannel server, QmpCommands commands) {
        this.socketPath = socketPath;
        this.server = server;
        this.commands = commands;
    }

    /** Binds the socket (replacing a stale one, as QEMU does) and starts accepting. */
    public static QmpServer listen(Path socketPath, QmpCommands commands) throws IOException {
        Files.deleteIfExists(socketPath);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(socketPath));
        } catch (IOException e) {
            server.close();
            throw new IOException("-qmp: cannot listen on " + socketPath + ": " + e.getMessage(), e);
        }
        QmpServer qmp = new QmpServer(socketPath, server, commands);
        Thread.ofPlatform().name("qmp-accept").daemon(true).start(qmp::acceptLoop);
        return qmp;
    }

    public void awaitFirstClient() throws InterruptedException {
        firstClient.await();
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel channel = server.accept();
                QmpSession session = new QmpSession(channel, commands, sessions::remove);
                sessions.add(session);
                firstClient.countDown();
                Thread.ofPlatform().name("qmp-client").daemon(true).start(session);
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void broadcast(String event, Map<String, ?> data) {
        long now = System.currentTimeMillis() * 1000 + (System.nanoTime() / 1000) % 1000;
        ObjectNode message = JSON.createObjectNode();
        message.put("event", event);
        message.set("data", JSON.valueToTree(data));
        ObjectNode timestamp = message.putObject("timestamp");
        timestamp.put("seconds", now / 1_000_000);
        timestamp.put("microseconds", now % 1_000_000);
        for (QmpSession session : sessions) {
            session.sendEvent(message);
        }
    }

    @Override
    public void stopped() {
        broadcast("STOP", Map.of());
    }

    @Override
    public void resumed() {
        broadcast("RESUME", Map.of());
    }

    @Override
    public void poweringDown() {
        broadcast("POWERDOWN", Map.of());
    }

    @Override
    public void shutdown(Termination termination) {
        broadcast("SHUTDOWN", Map.of("guest", termination.byGuest(), "reason", termination.reason()));
    }

    @Override
    public void reset(boolean byGuest, String reason) {
        broadcast("RESET", Map.of("guest", byGuest, "reason", reason));
    }

    @Override
    public void balloonChanged(long actualBytes) {
        broadcast("BALLOON_CHANGE", Map.of("actual", actualBytes));
    }

    @Override
    public void deviceDeleted(String id) {
        broadcast("DEVICE_DELETED", Map.of("device", id, "path", "/machine/peripheral/" + id));
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        sessions.forEach(QmpSession::close);
        try {
            Files.deleteIfExists(socketPath);
        } catch (IOException ignored) {
            // best effort
        }
    }

    static JsonNode emptyObject() {
        return JSON.createObjectNode();
    }
}
