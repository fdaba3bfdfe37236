package dev.jvirt.daemon.vm;

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
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The daemon's side of a VM's QMP socket (docs/interop/qmp-spec): negotiates capabilities, runs
 * one command at a time, and hands asynchronous events to a listener from its reader thread.
 */
public final class QmpClient implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final OutputStream out;
    private final BlockingQueue<JsonNode> replies = new LinkedBlockingQueue<>();

    private QmpClient(SocketChannel channel) {
        this.channel = channel;
        this.out = Channels.newOutputStream(channel);
    }

    /** Connects, reads the greeting and leaves capabilities-negotiation mode. */
    public static QmpClient connect(Path socket, Consumer<JsonNode> events) throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        QmpClient client = new QmpClient(channel);
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        String greeting = in.readLine();
        if (greeting == null || !JSON.readTree(greeting).has("QMP")) {
            channel.close();
            throw new IOException("no QMP greeting on " + socket);
        }
        Thread.ofVirtual().name("qmp-reader").start(() -> client.readLoop(in, events));
        client.execute("qmp_capabilities");
        return client;
    }

    private void readLoop(BufferedReader in, Consumer<JsonNode> events) {
        try {
            String line;
            while ((line = in.readLine()) != null) {
                JsonNode message = JSON.readTree(line);
                if (message.has("event")) {
                    events.accept(message);
                } else {
                    replies.add(message);
                }
            }
        } catch (IOException e) {
            // the VM went away; its exit is noticed through the process
        }
        replies.add(JSON.createObjectNode().put("closed", true));
    }

    /** Runs a command and returns its "return" value; a QMP error or a closed socket is an IOException. */
    public JsonNode execute(String command) throws IOException {
        return execute(command, null);
    }

    /** Runs a command with arguments (a JSON object, or null for none). */
    public synchronized JsonNode execute(String command, JsonNode arguments) throws IOException {
        com.fasterxml.jackson.databind.node.ObjectNode request = JSON.createObjectNode().put("execute", command);
        if (arguments != null) {
            request.set("arguments", arguments);
        }
        try {
            out.write((JSON.writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new IOException("QMP connection closed before " + command + " (" + e.getMessage() + ")", e);
        }
        try {
            JsonNode reply = replies.poll(30, TimeUnit.SECONDS);
            if (reply == null) {
                throw new IOException("QMP command " + command + " timed out");
            }
            if (reply.has("closed")) {
                replies.add(reply);
                throw new IOException("QMP connection closed during " + command);
            }
            if (reply.has("error")) {
                throw new IOException("QMP " + command + ": " + reply.at("/error/desc").asText());
            }
            return reply.get("return");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for QMP " + command);
        }
    }

    /** An empty arguments object to fill in. */
    public static com.fasterxml.jackson.databind.node.ObjectNode arguments() {
        return JSON.createObjectNode();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
