package dev.jvirt.daemon;

import dev.jvirt.daemon.domain.DomainStore;
import dev.jvirt.daemon.remote.RemoteProgram;
import dev.jvirt.daemon.network.HostNetworkBackend;
import dev.jvirt.daemon.network.Networks;
import dev.jvirt.daemon.rpc.RpcServer;
import dev.jvirt.daemon.storage.StoragePools;
import dev.jvirt.daemon.storage.Volumes;
import dev.jvirt.daemon.tls.TlsServerContext;
import dev.jvirt.daemon.vm.HostDeviceResources;
import dev.jvirt.daemon.vm.VmSupervisor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code jvirtd}: keeps domain definitions and serves libvirt's remote protocol, so the real virsh
 * and libvirt bindings manage jvirt. Options:
 * {@code --state-dir DIR} (default /var/lib/jvirt), {@code --listen HOST:PORT} (default
 * 127.0.0.1:16509), {@code --unix PATH} (default STATE_DIR/libvirt-sock, plus PATH-ro read-only),
 * {@code --listen-insecure} (allow unauthenticated TCP beyond loopback), {@code --vmm PATH} (default
 * $JVIRT_ROOT/bin/jvirt-vmm), {@code --max-clients N} (default 1000 connections at once).
 * TLS (libvirt's qemu+tls://, off unless asked for): {@code --listen-tls HOST[:PORT]} (port
 * 16514 when not given), with the CA, server certificate and key at libvirt's default paths
 * (/etc/pki/CA/cacert.pem, /etc/pki/libvirt/servercert.pem, /etc/pki/libvirt/private/serverkey.pem),
 * or all three in {@code --tls-pkipath DIR} (cacert.pem, servercert.pem, serverkey.pem), or each
 * given by {@code --tls-cacert}, {@code --tls-cert}, {@code --tls-key}. Clients must present a
 * certificate signed by that CA.
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) throws InterruptedException {
        Path stateDir = Path.of("/var/lib/jvirt");
        String listen = "127.0.0.1:16509";
        Path unix = null;
        boolean insecure = false;
        Path vmmPath = null;
        int maxClients = 1000;
        String listenTls = null;
        TlsServerContext.Paths tlsPaths = TlsServerContext.Paths.LIBVIRT_DEFAULTS;
        Path tlsCaCert = null;
        Path tlsCert = null;
        Path tlsKey = null;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--state-dir" -> stateDir = Path.of(value(args, ++i, arg));
                case "--listen" -> listen = value(args, ++i, arg);
                case "--unix" -> unix = Path.of(value(args, ++i, arg));
                case "--listen-insecure" -> insecure = true;
                case "--vmm" -> vmmPath = Path.of(value(args, ++i, arg));
                case "--max-clients" -> maxClients = positive(value(args, ++i, arg), arg);
                case "--listen-tls" -> listenTls = value(args, ++i, arg);
                case "--tls-pkipath" -> tlsPaths = TlsServerContext.Paths.inDirectory(Path.of(value(args, ++i, arg)));
                case "--tls-cacert" -> tlsCaCert = Path.of(value(args, ++i, arg));
                case "--tls-cert" -> tlsCert = Path.of(value(args, ++i, arg));
                case "--tls-key" -> tlsKey = Path.of(value(args, ++i, arg));
                default -> fail(arg + ": unknown option");
            }
        }
        int colon = listen.lastIndexOf(':');
        if (colon < 0) {
            fail("--listen: expected HOST:PORT, got '" + listen + "'");
        }
        tlsPaths = new TlsServerContext.Paths(tlsCaCert != null ? tlsCaCert : tlsPaths.caCert(),
                tlsCert != null ? tlsCert : tlsPaths.serverCert(), tlsKey != null ? tlsKey : tlsPaths.serverKey());
        try {
            // Credentials first: a mistake in them stops the daemon before it touches any state.
            TlsServerContext tls = listenTls == null ? null : TlsServerContext.load(tlsPaths);
            DomainStore store = DomainStore.open(stateDir);
            Path vmm = vmmPath != null ? vmmPath : Path.of(System.getenv().getOrDefault("JVIRT_ROOT", ".")).resolve("bin/jvirt-vmm");
            StoragePools pools = StoragePools.open(stateDir);
            Networks networks = Networks.open(stateDir, new HostNetworkBackend(stateDir.resolve("run")));
            Volumes volumes = new Volumes(pools);
            VmSupervisor supervisor = new VmSupervisor(store, stateDir, vmm, new HostDeviceResources(pools, volumes, networks));
            supervisor.reattach();
            RemoteProgram program = new RemoteProgram(store, supervisor, pools, volumes, networks);
            if (System.getenv("JVIRTD_LIST_PROCEDURES") != null) {
                System.err.println("jvirtd: REMOTE_PROGRAM procedures served: " + program.supported());
            }
            RpcServer server = new RpcServer(program, maxClients);
            int port = server.listenTcp(listen.substring(0, colon), Integer.parseInt(listen.substring(colon + 1)), insecure);
            Path socket = unix != null ? unix : stateDir.resolve("libvirt-sock");
            server.listenUnix(socket, false);
            server.listenUnix(Path.of(socket + "-ro"), true);
            String tlsNote = "";
            if (tls != null) {
                String[] hostPort = hostAndPort(listenTls, 16514);
                int tlsPort = server.listenTls(hostPort[0], Integer.parseInt(hostPort[1]), tls);
                tlsNote = ", TLS on " + hostPort[0] + ":" + tlsPort;
            }
            System.out.println("jvirtd: serving libvirt RPC on " + listen.substring(0, colon) + ":" + port + " and " + socket
                    + tlsNote + " (state in " + stateDir + ")");
            System.out.flush();
            Thread.ofVirtual().name("autostart").start(supervisor::autostart); // clients are served while VMs boot
            Thread.currentThread().join();
        } catch (IOException | NumberFormatException e) {
            fail(e.getMessage());
        }
    }

    /** HOST, HOST:PORT, [IPV6] or [IPV6]:PORT; the port is {@code defaultPort} when not given. */
    static String[] hostAndPort(String text, int defaultPort) {
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0) {
                fail("'" + text + "': missing ]");
            }
            String rest = text.substring(close + 1);
            return new String[] {text.substring(1, close), rest.startsWith(":") ? rest.substring(1) : Integer.toString(defaultPort)};
        }
        int colon = text.lastIndexOf(':');
        if (colon < 0 || text.indexOf(':') != colon) {
            return new String[] {text, Integer.toString(defaultPort)}; // a bare host, or a bare IPv6 address
        }
        return new String[] {text.substring(0, colon), text.substring(colon + 1)};
    }

    private static String value(String[] args, int index, String option) {
        if (index >= args.length) {
            fail(option + ": requires an argument");
        }
        return args[index];
    }

    private static int positive(String text, String option) {
        try {
            int value = Integer.parseInt(text);
            if (value > 0) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        fail(option + ": expected a positive number, got '" + text + "'");
        return 0;
    }

    private static void fail(String message) {
        System.err.println("jvirtd: " + message);
        System.exit(1);
    }
}
