package dev.jvirt.vmm.qmp;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * One QMP client connection. Until {@code qmp_capabilities} only that command is accepted, as the
 * QMP spec requires; afterwards commands run and events are delivered. Malformed JSON gets a
 * GenericError and the connection stays usable where the stream allows, as in QEMU.
 */
final class QmpSession implements Runnable {

    private static final int MAX_MESSAGE = 1 << 20;

    private final SocketChannel channel;
    private final QmpCommands commands;
    private final Consumer<QmpSession> onClose;
    private final OutputStream out;
    private volatile boolean negotiated;

    QmpSession(SocketChannel channel, QmpCommands commands, Consumer<QmpSession> onClose) {
        this.channel = channel;
        this.commands = commands;
        this.onClose = onClose;
        this.out = Channels.newOutputStream(channel);
    }

    @Override
    public void run() {
        try (InputStream in = new LimitedInputStream(Channels.newInputStream(channel), MAX_MESSAGE)) {
            send(greeting());
            JsonParser parser = QmpServer.JSON.getFactory().createParser(in);
            MappingIterator<JsonNode> messages = QmpServer.JSON.readValues(parser, JsonNode.class);
            while (true) {
                JsonNode message;
                try {
                    if (!messages.hasNextValue()) {
                        break;
                    }
                    message = messages.nextValue();
                } catch (JsonProcessingException | RuntimeException e) {
                    send(error(null, "GenericError", "JSON parse error, " + firstLine(e.getMessage())));
                    break; // the stream position is unknown after a syntax error
                }
                ((LimitedInputStream) in).resetCount();
                send(handle(message));
            }
        } catch (IOException e) {
            // client went away
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            close();
        }
    }

    private ObjectNode handle(JsonNode message) throws InterruptedException {
        JsonNode id = message.get("id");
        if (!message.isObject()) {
            return error(id, "GenericError", "QMP input must be a JSON object");
        }
        JsonNode execute = message.get("execute");
        if (execute == null || !execute.isTextual()) {
            return error(id, "GenericError", "QMP input lacks member 'execute'");
        }
        JsonNode arguments = message.get("arguments");
        if (arguments != null && !arguments.isObject()) {
            return error(id, "GenericError", "QMP input member 'arguments' must be an object");
        }
        String name = execute.asText();
        if (name.equals("qmp_capabilities")) {
            if (negotiated) {
                return error(id, "CommandNotFound", "Capabilities negotiation is already complete, command ignored");
            }
            negotiated = true;
            return success(id, QmpServer.emptyObject());
        }
        if (!negotiated) {
            return error(id, "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
        }
        QmpCommand command = commands.find(name);
        if (command == null) {
            return error(id, "CommandNotFound", "The command " + name + " has not been found");
        }
        try {
            Object result = command.execute(arguments == null ? QmpServer.emptyObject() : arguments);
            return success(id, QmpServer.JSON.valueToTree(result));
        } catch (QmpError e) {
            return error(id, e.errorClass(), e.getMessage());
        }
    }

    private static ObjectNode greeting() {
        ObjectNode greeting = QmpServer.JSON.createObjectNode();
        ObjectNode qmp = greeting.putObject("QMP");
        ObjectNode version = qmp.putObject("version");
        ObjectNode qemu = version.putObject("qemu");
        qemu.put("major", 7);
        qemu.put("minor", 2);
        qemu.put("micro", 0);
        version.put("package", "jvirt");
        qmp.putArray("capabilities");
        return greeting;
    }

    private static ObjectNode success(JsonNode id, JsonNode value) {
        ObjectNode reply = QmpServer.JSON.createObjectNode();
        reply.set("return", value);
        if (id != null) {
            reply.set("id", id);
        }
        return reply;
    }

    private static ObjectNode error(JsonNode id, String errorClass, String description) {
        ObjectNode reply = QmpServer.JSON.createObjectNode();
        ObjectNode error = reply.putObject("error");
        error.put("class", errorClass);
        error.put("desc", description);
        if (id != null) {
            reply.set("id", id);
        }
        return reply;
    }

    void sendEvent(ObjectNode event) {
        if (negotiated) {
            try {
                send(event);
            } catch (IOException e) {
                close();
            }
        }
    }

    private synchronized void send(ObjectNode message) throws IOException {
        out.write((QmpServer.JSON.writeValueAsString(message) + "\r\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // already gone
        }
        onClose.accept(this);
    }

    private static String firstLine(String text) {
        if (text == null) {
            return "malformed input";
        }
        int newline = text.indexOf('\n');
        return newline < 0 ? text : text.substring(0, newline);
    }

    /** Caps how much one message may be, so a client cannot make us buffer without end. */
    private static final class LimitedInputStream extends java.io.FilterInputStream {
        private final int limit;
        private int count;

        LimitedInputStream(InputStream in, int limit) {
            super(in);
            this.limit = limit;
        }

        void resetCount() {
            count = 0;
        }

        @Override
        public int read() throws IOException {
            check(1);
            int b = super.read();
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            check(length);
            int n = super.read(buffer, offset, Math.min(length, limit - count + 1));
            if (n > 0) {
                count += n;
            }
            return n;
        }

        private void check(int wanted) throws IOException {
            if (count >= limit) {
                throw new IOException("QMP message larger than " + limit + " bytes");
            }
        }
    }
}
