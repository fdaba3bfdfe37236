package dev.jvirt.daemon.rpc;

import dev.jvirt.daemon.remote.RemoteProgram;
import dev.jvirt.daemon.tls.TlsServerContext;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** Accepts libvirt RPC clients on TCP (plain or TLS) and Unix sockets; one virtual thread per connection. */
public final class RpcServer implements AutoCloseable {

    /** A client that has not finished its TLS handshake in this time is dropped, so it cannot hold a slot. */
    private static final int HANDSHAKE_TIMEOUT_MILLIS = 30_000;

    private final RemoteProgram program;
    private final int maxClients;
    private final AtomicInteger clients = new AtomicInteger();
    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final List<Path> socketFiles = new ArrayList<>();
    private final List<ServerSocket> tlsListeners = new ArrayList<>();

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

    /**
     * Listens for libvirt's TLS transport (qemu+tls://). Each client's certificate is checked
     * against the CA right after the handshake; one that passes is sent libvirt's confirmation
     * byte (1) and served read-write, one that does not is logged and closed without it, which
     * virsh reports as "server verification (of our certificate or IP address) failed".
     */
    public int listenTls(String host, int port, TlsServerContext tls) throws IOException {
        SSLServerSocket server = tls.listen(new InetSocketAddress(host, port));
        tlsListeners.add(server);
        Thread.ofPlatform().name("rpc-accept-tls").daemon(true).start(() -> {
            while (!server.isClosed()) {
                Socket client;
                try {
                    client = server.accept();
                } catch (IOException e) {
                    if (server.isClosed()) {
                        return;
                    }
                    sleepBriefly(); // out of file descriptors, say: let some clients go first
                    continue;
                }
                if (!admit()) {
                    closeQuietly(client);
                    continue;
                }
                Thread.ofVirtual().name("rpc-tls-client").start(() -> {
                    try {
                        serveTls((SSLSocket) client, tls);
                    } finally {
                        clients.decrementAndGet();
                    }
                });
            }
        });
        return server.getLocalPort();
    }

    private void serveTls(SSLSocket socket, TlsServerContext tls) {
        String peer = String.valueOf(socket.getRemoteSocketAddress());
        try {
            socket.setSoTimeout(HANDSHAKE_TIMEOUT_MILLIS);
            socket.startHandshake();
            tls.checkClient(socket.getSession());
            OutputStream out = socket.getOutputStream();
            out.write(1);
            out.flush();
            socket.setSoTimeout(0);
        } catch (CertificateException e) {
            System.err.println("jvirtd: TLS client " + peer + " refused: " + e.getMessage());
            try {
                // close_notify alone: virsh then reads end-of-stream instead of the byte and says
                // "server verification (of our certificate or IP address) failed". A plain close
                // sends TLS 1.3's user_canceled first, which virsh reports as a bare I/O error.
                socket.shutdownOutput();
            } catch (IOException ignored) {
                // closing anyway
            }
            closeQuietly(socket);
            return;
        } catch (IOException e) {
            System.err.println("jvirtd: TLS handshake with " + peer + " failed: " + e.getMessage());
            closeQuietly(socket);
            return;
        }
        try {
            new RpcConnection(new SocketByteChannel(socket), program, false).run();
        } catch (IOException e) {
            closeQuietly(socket);
        }
    }

    private boolean admit() {
        if (clients.incrementAndGet() > maxClients) {
            clients.decrementAndGet();
            return false;
        }
        return true;
    }

    private static void closeQuietly(java.io.Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    private static void sleepBriefly() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public void listenUnix(Path path, boolean readOnly) throws IOException {
        Files.deleteIfExists(path);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        // libvirtd's unix_sock_ro_perms 0777 and unix_sock_rw_perms 0700: anyone may look, only the owner may change.
        Files.setPosixFilePermissions(path, java.nio.file.attribute.PosixFilePermissions.fromString(readOnly ? "rwxrwxrwx" : "rwx------"));
        socketFiles.add(path);
        start(server, readOnly);
    }

    private void start(ServerSocketChannel server, boolean readOnly) {
        listeners.add(server);
        Thread.ofPlatform().name("rpc-accept").daemon(true).start(() -> {
            while (server.isOpen()) {
                try {
                    SocketChannel client = server.accept();
                    if (!admit()) {
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
        for (ServerSocket listener : tlsListeners) {
            listener.close();
        }
        for (Path path : socketFiles) {
            Files.deleteIfExists(path);
        }
    }
}
