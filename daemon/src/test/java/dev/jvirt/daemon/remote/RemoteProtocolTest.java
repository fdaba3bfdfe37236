package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.domain.DomainStore;
import dev.jvirt.daemon.network.NetworkBackend;
import dev.jvirt.daemon.network.NetworkDefinition;
import dev.jvirt.daemon.network.Networks;
import dev.jvirt.daemon.rpc.RpcMessage;
import dev.jvirt.daemon.rpc.RpcServer;
import dev.jvirt.daemon.rpc.XdrReader;
import dev.jvirt.daemon.rpc.XdrWriter;
import dev.jvirt.daemon.storage.StoragePools;
import dev.jvirt.daemon.storage.Volumes;
import dev.jvirt.daemon.vm.VmSupervisor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The RPC server in-process, spoken to byte by byte: framing, handshake rules, keepalive, errors, read-only sockets. */
class RemoteProtocolTest {

    private static final int KEEPALIVE = 0x6b656570;

    @TempDir
    Path state;

    private DomainStore domains;
    private RpcServer server;
    private final List<String> networkCalls = new ArrayList<>();

    @BeforeEach
    void startServer() throws Exception {
        domains = DomainStore.open(state);
        StoragePools pools = StoragePools.open(state);
        Networks networks = Networks.open(state, new NetworkBackend() {
            @Override
            public void start(NetworkDefinition network) {
                networkCalls.add("start " + network.bridge());
            }

            @Override
            public void stop(NetworkDefinition network) {
                networkCalls.add("stop " + network.bridge());
            }

            @Override
            public boolean isUp(NetworkDefinition network) {
                return false;
            }
        });
        RemoteProgram program = new RemoteProgram(domains, new VmSupervisor(domains, state, Path.of("/nonexistent/jvirt-vmm")),
                pools, new Volumes(pools), networks);
        server = new RpcServer(program);
        server.listenUnix(state.resolve("sock"), false);
        server.listenUnix(state.resolve("sock-ro"), true);
    }

    @AfterEach
    void stopServer() throws Exception {
        server.close();
        domains.close();
    }

    /** A raw client: sends calls, reads whole replies. */
    private static final class Client implements AutoCloseable {
        final SocketChannel channel;
        final OutputStream out;
        final DataInputStream in;
        int serial;

        Client(Path socket) throws IOException {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(socket));
            out = Channels.newOutputStream(channel);
            in = new DataInputStream(Channels.newInputStream(channel));
        }

        RpcMessage call(int program, int procedure, byte[] args) throws IOException {
            out.write(RpcMessage.encode(program, 1, procedure, RpcMessage.TYPE_CALL, ++serial, RpcMessage.STATUS_OK, args));
            out.flush();
            return read();
        }

        RpcMessage call(int procedure, byte[] args) throws IOException {
            return call(RemoteProgram.PROGRAM, procedure, args);
        }

        RpcMessage read() throws IOException {
            int length = in.readInt();
            byte[] rest = new byte[length - 4];
            in.readFully(rest);
            return RpcMessage.decode(ByteBuffer.wrap(rest));
        }

        void open() throws IOException {
            RpcMessage reply = call(1, new XdrWriter().writeOptionalString("qemu:///system").writeInt(0).toByteArray());
            assertEquals(RpcMessage.STATUS_OK, reply.status());
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    private static int errorCode(RpcMessage reply) throws IOException {
        assertEquals(RpcMessage.STATUS_ERROR, reply.status());
        return new XdrReader(reply.payload()).readInt();
    }

    private static String errorMessage(RpcMessage reply) throws IOException {
        XdrReader error = new XdrReader(reply.payload());
        error.readInt();
        error.readInt();
        return error.readOptionalString(1 << 20);
    }

    @Test
    void handshakeKeepaliveAndUnknownProcedures() throws Exception {
        try (Client client = new Client(state.resolve("sock"))) {
            RpcMessage auth = client.call(66, new byte[0]);
            XdrReader types = new XdrReader(auth.payload());
            assertEquals(1, types.readInt(), "one auth type");
            assertEquals(0, types.readInt(), "REMOTE_AUTH_NONE");
            assertEquals(RemoteError.RPC, errorCode(client.call(23, new XdrWriter().writeString("x").toByteArray())),
                    "nothing but the handshake before CONNECT_OPEN");
            client.open();
            assertEquals(RemoteError.NO_SUPPORT, errorCode(client.call(9999, new byte[0])), "unknown procedures get VIR_ERR_NO_SUPPORT");
            assertEquals(RemoteError.NO_DOMAIN, errorCode(client.call(23, new XdrWriter().writeString("missing").toByteArray())));

            client.out.write(RpcMessage.encode(KEEPALIVE, 1, 1, RpcMessage.TYPE_MESSAGE, 0, RpcMessage.STATUS_OK, new byte[0]));
            RpcMessage pong = client.read();
            assertEquals(KEEPALIVE, pong.program());
            assertEquals(2, pong.procedure(), "PING answered with PONG");

            RpcMessage truncated = client.call(23, new byte[] {0, 0, 0, 50});
            assertEquals(RpcMessage.STATUS_ERROR, truncated.status(), "arguments that do not decode are an error reply");
            assertTrue(errorMessage(truncated).contains("truncated"), errorMessage(truncated));
            assertEquals(RpcMessage.STATUS_OK, client.call(66, new byte[0]).status(), "and the connection goes on");
        }
    }

    @Test
    void readOnlySocketRefusesChangesButAnswersQueries() throws Exception {
        try (Client client = new Client(state.resolve("sock-ro"))) {
            client.open();
            String xml = "<domain type='kvm'><name>ro</name><memory>1024</memory></domain>";
            RpcMessage define = client.call(11, new XdrWriter().writeString(xml).toByteArray());
            assertEquals(RemoteError.OPERATION_DENIED, errorCode(define));
            RpcMessage pool = client.call(77, new XdrWriter().writeString("<pool type='dir'><name>p</name><target><path>/tmp/p</path></target></pool>")
                    .writeInt(0).toByteArray());
            assertEquals(RemoteError.OPERATION_DENIED, errorCode(pool));
            RpcMessage count = client.call(25, new byte[0]);
            assertEquals(0, new XdrReader(count.payload()).readInt());
        }
        assertTrue(domains.all().isEmpty(), "nothing was defined");
        assertEquals("rwxrwxrwx", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("sock-ro"))),
                "anyone may connect read-only, as to libvirtd's libvirt-sock-ro");
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("sock"))),
                "only the daemon's user may connect read-write");
    }

    @Test
    void networkLifecycleGoesThroughTheBackend() throws Exception {
        try (Client client = new Client(state.resolve("sock"))) {
            client.open();
            RpcMessage defined = client.call(41, new XdrWriter().writeString("<network><name>n1</name></network>").toByteArray());
            assertEquals(RpcMessage.STATUS_OK, defined.status());
            byte[] reference = new byte[defined.payload().remaining()];
            defined.payload().duplicate().get(reference);
            assertEquals(RpcMessage.STATUS_OK, client.call(39, reference).status());
            assertEquals(RemoteError.OPERATION_INVALID, errorCode(client.call(49, reference)), "an active network cannot be undefined");
            assertEquals(RpcMessage.STATUS_OK, client.call(42, reference).status());
            assertEquals(List.of("start virbr0", "stop virbr0"), networkCalls);
        }
    }

    @Test
    void largeMessagesArriveWhole() throws Exception {
        String description = "d".repeat(900_000); // near REMOTE_STRING_MAX: read in growing pieces, not allocated up front
        String xml = "<domain type='kvm'><name>big</name><description>" + description + "</description><memory>1024</memory></domain>";
        try (Client client = new Client(state.resolve("sock"))) {
            client.open();
            assertEquals(RpcMessage.STATUS_OK, client.call(11, new XdrWriter().writeString(xml).toByteArray()).status());
        }
        assertTrue(domains.byName("big").definition().toXml().contains(description));
    }

    @Test
    void clientsBeyondTheLimitAreTurnedAway() throws Exception {
        try (RpcServer small = new RpcServer(new RemoteProgram(domains, new VmSupervisor(domains, state, Path.of("/x")),
                StoragePools.open(state), new Volumes(StoragePools.open(state)), Networks.open(state, new NetworkBackend() {
                    @Override
                    public void start(NetworkDefinition network) {
                    }

                    @Override
                    public void stop(NetworkDefinition network) {
                    }

                    @Override
                    public boolean isUp(NetworkDefinition network) {
                        return false;
                    }
                })), 1)) {
            small.listenUnix(state.resolve("small"), false);
            try (Client first = new Client(state.resolve("small")); Client second = new Client(state.resolve("small"))) {
                first.open();
                assertThrows(IOException.class, () -> second.call(66, new byte[0]), "the second client is closed at once");
                assertEquals(RpcMessage.STATUS_OK, first.call(66, new byte[0]).status());
            }
        }
    }

    @Test
    void garbageEndsOnlyThatConnection() throws Exception {
        try (Client good = new Client(state.resolve("sock")); Client bad = new Client(state.resolve("sock"))) {
            good.open();
            bad.out.write(new byte[] {0x7f, 0x7f, 0x7f, 0x7f, 1, 2, 3, 4});
            bad.out.flush();
            assertThrows(IOException.class, bad::read, "the server hangs up on a 2 GB length word");
            assertEquals(RpcMessage.STATUS_OK, good.call(66, new byte[0]).status());
        }
    }
}
