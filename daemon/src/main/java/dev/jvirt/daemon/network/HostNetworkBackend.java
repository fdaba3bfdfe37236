package dev.jvirt.daemon.network;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Networks on this host with iproute2, nftables and dnsmasq, as libvirt's bridge driver does:
 * an isolated or NAT network gets its own bridge with the gateway address; NAT adds an nftables
 * table that masquerades the subnet and dnsmasq for DHCP; a host-bridge network only checks that
 * the bridge exists. Tests run this inside a network namespace.
 */
public final class HostNetworkBackend implements NetworkBackend {

    private final Path runDir;

    public HostNetworkBackend(Path runDir) throws IOException {
        this.runDir = runDir;
        Files.createDirectories(runDir);
    }

    @Override
    public void start(NetworkDefinition network) throws IOException {
        String bridge = network.bridge();
        if (network.mode() == NetworkDefinition.Mode.BRIDGE) {
            if (!link(bridge).matches("(?s).*\\bbridge\\b.*")) {
                throw new IOException("host bridge '" + bridge + "' does not exist");
            }
            return;
        }
        if (!link(bridge).isEmpty()) {
            throw new IOException("interface '" + bridge + "' already exists on the host");
        }
        List<Runnable> undo = new ArrayList<>();
        try {
            run("ip", "link", "add", bridge, "type", "bridge");
            undo.add(() -> quietly("ip", "link", "del", bridge));
            NetworkDefinition.Ipv4 ip = network.ipv4();
            if (ip != null) {
                run("ip", "addr", "add", ip.address() + "/" + ip.prefix(), "dev", bridge);
            }
            run("ip", "link", "set", bridge, "up");
            if (network.mode() == NetworkDefinition.Mode.NAT) {
                Files.writeString(Path.of("/proc/sys/net/ipv4/ip_forward"), "1\n");
                String table = table(network);
                run("nft", "add table ip " + table
                        + " ; add chain ip " + table + " postrouting { type nat hook postrouting priority 100 ; }"
                        + " ; add rule ip " + table + " postrouting ip saddr " + network.subnet() + " ip daddr != " + network.subnet() + " masquerade");
                undo.add(() -> quietly("nft", "delete table ip " + table));
            }
            if (ip != null && ip.dhcpStart() != null) {
                run("dnsmasq", "--strict-order", "--bind-interfaces", "--except-interface=lo", "--interface=" + bridge,
                        "--listen-address=" + ip.address(), "--dhcp-range=" + ip.dhcpStart() + "," + ip.dhcpEnd(),
                        "--dhcp-leasefile=" + runDir.resolve(network.name() + ".leases"), "--pid-file=" + pidFile(network),
                        "--conf-file=", "--dhcp-no-override");
            }
        } catch (IOException e) {
            for (int i = undo.size() - 1; i >= 0; i--) {
                undo.get(i).run();
            }
            throw e;
        }
    }

    @Override
    public void stop(NetworkDefinition network) throws IOException {
        if (network.mode() == NetworkDefinition.Mode.BRIDGE) {
            return;
        }
        Path pid = pidFile(network);
        if (Files.exists(pid)) {
            try {
                ProcessHandle.of(Long.parseLong(Files.readString(pid).trim())).ifPresent(ProcessHandle::destroy);
            } catch (NumberFormatException ignored) {
                // a damaged pid file: nothing we can signal
            }
            Files.deleteIfExists(pid);
        }
        if (network.mode() == NetworkDefinition.Mode.NAT) {
            quietly("nft", "delete table ip " + table(network));
        }
        run("ip", "link", "del", network.bridge());
    }

    @Override
    public boolean isUp(NetworkDefinition network) {
        return !link(network.bridge()).isEmpty();
    }

    /**
     * The interface's details from {@code ip -d link}, empty when there is none. Asked of iproute2
     * rather than read from /sys, which shows the namespace sysfs was mounted in, not ours.
     */
    private static String link(String name) {
        try {
            Process process = new ProcessBuilder("ip", "-o", "-d", "link", "show", "dev", name).redirectErrorStream(true).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return process.waitFor(10, TimeUnit.SECONDS) && process.exitValue() == 0 ? output : "";
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    private static String table(NetworkDefinition network) {
        return "jvirt_" + network.bridge().replaceAll("[^A-Za-z0-9_]", "_");
    }

    private Path pidFile(NetworkDefinition network) {
        return runDir.resolve(network.name() + ".dnsmasq.pid");
    }

    private static void run(String... command) throws IOException {
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException(command[0] + " is not available on this host (needed for this network): " + e.getMessage());
        }
        try {
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException(String.join(" ", command) + " timed out");
            }
            if (process.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + " failed: " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted running " + command[0]);
        }
    }

    private static void quietly(String... command) {
        try {
            run(command);
        } catch (IOException ignored) {
            // best-effort undo
        }
    }
}
