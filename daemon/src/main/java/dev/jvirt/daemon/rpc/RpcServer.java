package dev.jvirt.daemon.rpc;

import dev.jvirt.daemon.remote.RemoteProgram;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** Accepts libvirt RPC clients on TCP and Unix sockets; one virtual thread per connection. */
public final class RpcServer implements AutoCloseable {

    private final RemoteProgram program;
    private final int maxClients;
    private final AtomicInteger clients = new AtomicInteger();
    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final List<Path> socketFiles = new ArrayList<>();

    public RpcServer(RemoteProgram program) {
        this(program, 1000);
    }

    /** At most {@code maxClients} connections at once (libvirtd's max_clients); more are closed on accept. */
    public RpcServer(RemoteProgram program, int maxClients) {
        this.program = program;
        this.maxClients = maxClients;
    }

    /** Listens on TCP. Unauthenticated TCP is only allowed on loopback unless {@code insecure} says otherwise. */
    public int listenTcp(String host, int port, boolean insecure) throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        if (!insecure && (address.getAddress() == null || !address.getAddress().isLoopbackAddress())) {
            throw new IOException("refusing unauthenticated TCP on non-loopback address " + host
                    + " (libvirt clients would reach it without any authentication); pass --listen-insecure to allow");
        }
        ServerSocketChannel server = ServerSocketChannel.open();
        server.bind(address);
        start(server, false);
        return ((InetSocketAddress) server.getLocalAddress()).getPort();
    }

    public void listenUnix(Path path, boolean readOnly) throws IOException {
        Files.deleteIfExists(path);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        socketFiles.add(path);
        start(server, readOnly);
    }

    private void start(ServerSocketChannel server, boolean readOnly) {
        listeners.add(server);
        Thread.ofPlatform().name("rpc-accept").daemon(true).start(() -> {
            while (server.isOpen()) {
                try {
                    SocketChannel client = server.accept();
                    if (clients.incrementAndGet() > maxClients) {
                        clients.decrementAndGet();
                        client.close();
                        continue;
                    }
                    RpcConnection connection = new RpcConnection(client, program, readOnly);
                    Thread.ofVirtual().name("rpc-client").start(() -> {
                        try {
                            connection.run();
                        } finally {
                            clients.decrementAndGet();
                        }
                    });
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    @Override
    public void close() throws IOException {
        for (ServerSocketChannel listener : listeners) {
            listener.close();
        }
        for (Path path : socketFiles) {
            Files.deleteIfExists(path);
        }
    }
}
