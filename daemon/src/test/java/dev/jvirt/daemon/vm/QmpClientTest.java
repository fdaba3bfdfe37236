package dev.jvirt.daemon.vm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The QMP client against a small fake QMP server speaking the spec's wire format (docs/interop/qmp-spec). */
class QmpClientTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** Greets, then answers each command with a scripted reply; records what it was sent. */
    private static final class FakeQmp implements AutoCloseable {
        final List<String> received = new CopyOnWriteArrayList<>();
        final ServerSocketChannel server;
        volatile OutputStream out;

        FakeQmp(Path socket, String greeting) throws IOException {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
            Thread.ofVirtual().start(() -> serve(greeting));
        }

        private void serve(String greeting) {
            try (SocketChannel client = server.accept()) {
                out = Channels.newOutputStream(client);
                send(greeting);
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client), StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null) {
                    String command = JSON.readTree(line).path("execute").asText();
                    received.add(command);
                    switch (command) {
                        case "query-status" -> send("{\"return\": {\"status\": \"running\", \"running\": true}}");
                        case "stop" -> {
                            send("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}");
                            send("{\"return\": {}}");
                        }
                        case "quit" -> {
                            send("{\"return\": {}}");
                            return;
                        }
                        case "qmp_capabilities" -> send("{\"return\": {}}");
                        default -> send("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command " + command + " has not been found\"}}");
                    }
                }
            } catch (IOException ignored) {
                // the test closed its side
            }
        }

        void send(String line) throws IOException {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    private static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 8}}, \"capabilities\": []}}";

    @Test
    void negotiatesRunsCommandsAndDeliversEvents() throws Exception {
        Path socket = dir.resolve("vm.qmp");
        BlockingQueue<JsonNode> events = new LinkedBlockingQueue<>();
        try (FakeQmp fake = new FakeQmp(socket, GREETING); QmpClient client = QmpClient.connect(socket, events::add)) {
            assertEquals("running", client.execute("query-status").path("status").asText());
            client.execute("stop");
            JsonNode event = events.poll(5, TimeUnit.SECONDS);
            assertEquals("STOP", event.path("event").asText(), "events go to the listener, not to the caller");
            IOException unknown = assertThrows(IOException.class, () -> client.execute("frobnicate"));
            assertTrue(unknown.getMessage().contains("has not been found"), unknown.getMessage());
            client.execute("quit");
            IOException closed = assertThrows(IOException.class, () -> client.execute("query-status"));
            assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
            assertEquals(List.of("qmp_capabilities", "query-status", "stop", "frobnicate", "quit"), fake.received.subList(0, 5));
        }
    }

    @Test
    void aServerWithoutAGreetingIsRefused() throws Exception {
        Path socket = dir.resolve("bad.qmp");
        try (FakeQmp fake = new FakeQmp(socket, "{\"hello\": 1}")) {
            IOException e = assertThrows(IOException.class, () -> QmpClient.connect(socket, event -> { }));
            assertTrue(e.getMessage().contains("no QMP greeting"), e.getMessage());
        }
    }
}
