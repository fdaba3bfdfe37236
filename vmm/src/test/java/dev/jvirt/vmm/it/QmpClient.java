package dev.jvirt.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A minimal QMP client for tests: one command at a time, events collected on the side. */
final class QmpClient implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final BufferedReader in;
    private final OutputStream out;
    private final List<JsonNode> events = new ArrayList<>();
    final JsonNode greeting;

    private QmpClient(SocketChannel channel) throws IOException {
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        this.out = Channels.newOutputStream(channel);
        this.greeting = JSON.readTree(in.readLine());
    }

    static QmpClient connect(Path socket, long timeoutMillis) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (true) {
            try {
                if (Files.exists(socket)) {
                    SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
                    channel.connect(UnixDomainSocketAddress.of(socket));
                    return new QmpClient(channel);
                }
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw e;
                }
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IOException("QMP socket " + socket + " never appeared");
            }
            Thread.sleep(50);
        }
    }

    /** Sends raw text and returns the next non-event reply. */
    JsonNode sendRaw(String text) throws IOException {
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
        return nextReply();
    }

    JsonNode execute(String command) throws IOException {
        return sendRaw("{\"execute\": \"" + command + "\"}\n");
    }

    private JsonNode nextReply() throws IOException {
        while (true) {
            String line = in.readLine();
            if (line == null) {
                throw new IOException("QMP connection closed");
            }
            JsonNode message = JSON.readTree(line);
            if (message.has("event")) {
                synchronized (events) {
                    events.add(message);
                }
            } else {
                return message;
            }
        }
    }

    /** Reads messages until an event named {@code name} has arrived (or returns one already seen). */
    JsonNode awaitEvent(String name) throws IOException {
        while (true) {
            synchronized (events) {
                for (JsonNode event : events) {
                    if (event.get("event").asText().equals(name)) {
                        events.remove(event);
                        return event;
                    }
                }
            }
            String line = in.readLine();
            if (line == null) {
                throw new IOException("QMP connection closed before event " + name);
            }
            JsonNode message = JSON.readTree(line);
            if (message.has("event")) {
                synchronized (events) {
                    events.add(message);
                }
            }
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
