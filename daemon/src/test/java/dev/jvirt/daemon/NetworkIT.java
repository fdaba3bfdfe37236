package dev.jvirt.daemon;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Virtual networks through the real virsh, with jvirtd inside a private network namespace so the
 * bridges, addresses, nftables rules and dnsmasq it creates never touch the host's networking.
 */
class NetworkIT {

    @TempDir
    Path dir;

    private Process namespaceHolder;

    @BeforeAll
    static void needRootAndTools() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/virsh")), "virsh not installed");
        assumeTrue(JvirtdProcess.run("unshare", "-n", "true").status() == 0, "cannot create network namespaces (needs root)");
        assumeTrue(Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip")), "iproute2 not installed");
    }

    @BeforeEach
    void holdANamespace() throws Exception {
        // A sleeping process keeps the namespace alive across daemon restarts.
        namespaceHolder = new ProcessBuilder("unshare", "-n", "sleep", "600").start();
        Thread.sleep(200);
        inNamespace("ip", "link", "set", "lo", "up"); // jvirtd's TCP listener binds 127.0.0.1
    }

    @AfterEach
    void releaseTheNamespace() {
        namespaceHolder.destroyForcibly();
    }

    private List<String> inNamespace() {
        return List.of("nsenter", "-t", Long.toString(namespaceHolder.pid()), "-n");
    }

    private String inNamespace(String... command) throws Exception {
        List<String> full = new java.util.ArrayList<>(inNamespace());
        full.addAll(List.of(command));
        JvirtdProcess.Result result = JvirtdProcess.run(full.toArray(String[]::new));
        return result.stdout() + result.stderr();
    }

    private static JvirtdProcess.Result ok(JvirtdProcess.Result result) {
        assertEquals(0, result.status(), result.stdout() + result.stderr());
        return result;
    }

    private static String failure(JvirtdProcess.Result result) {
        assertEquals(1, result.status(), "expected a failure: " + result.stdout());
        return result.stderr();
    }

    private Path xml(String name, String content) throws Exception {
        Path file = dir.resolve(name + ".xml");
        Files.writeString(file, content);
        return file;
    }

    @Test
    void isolatedAndHostBridgeNetworksSurviveARestart() throws Exception {
        Path state = dir.resolve("state");
        Path isolated = xml("isolated", "<network><name>isolated</name><ip address='192.168.150.1' netmask='255.255.255.0'/></network>");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state, inNamespace())) {
            String uri = jvirtd.unixUri();
            assertTrue(ok(jvirtd.virsh(uri, "net-define", isolated.toString())).stdout().contains("Network isolated defined"));
            assertTrue(ok(jvirtd.virsh(uri, "net-dumpxml", "isolated")).stdout().contains("<bridge name=\"virbr0\"/>"),
                    "a bridge name is chosen and kept, as libvirt does");
            ok(jvirtd.virsh(uri, "net-start", "isolated"));
            ok(jvirtd.virsh(uri, "net-autostart", "isolated"));
            assertTrue(inNamespace("ip", "-br", "addr", "show", "virbr0").matches("(?s)virbr0\\s+UNKNOWN\\s+192\\.168\\.150\\.1/24.*"),
                    inNamespace("ip", "-br", "addr"));
            assertTrue(ok(jvirtd.virshQuiet(uri, "net-list")).stdout().matches("\\s*isolated\\s+active\\s+yes\\s+yes\\s*"));
            assertTrue(ok(jvirtd.virsh(uri, "net-info", "isolated")).stdout().matches("(?s).*Active:\\s+yes.*Bridge:\\s+virbr0.*"));

            assertTrue(failure(jvirtd.virsh(uri + "-ro", "net-destroy", "isolated")).contains("read only access prevents"));
            assertTrue(failure(jvirtd.virsh(uri, "net-define", xml("routed",
                    "<network><name>routed</name><forward mode='route'/><ip address='10.9.0.1' prefix='24'/></network>").toString()))
                    .contains("forward mode 'route' is not supported"));
            assertTrue(failure(jvirtd.virsh(uri, "net-define", xml("nat-noip",
                    "<network><name>n</name><forward mode='nat'/></network>").toString())).contains("needs an <ip"));

            Path hostBridge = xml("host", "<network><name>host</name><forward mode='bridge'/><bridge name='br-host'/></network>");
            ok(jvirtd.virsh(uri, "net-define", hostBridge.toString()));
            assertTrue(failure(jvirtd.virsh(uri, "net-start", "host")).contains("host bridge 'br-host' does not exist"));
            inNamespace("ip", "link", "add", "br-host", "type", "bridge");
            ok(jvirtd.virsh(uri, "net-start", "host"));
        }
        try (JvirtdProcess again = JvirtdProcess.start(state, inNamespace())) {
            String uri = again.unixUri();
            assertEquals("host\nisolated", ok(again.virsh(uri, "net-list", "--name")).stdout().trim(),
                    "networks whose bridges are still up are active after a restart");
            ok(again.virsh(uri, "net-destroy", "isolated"));
            assertFalse(inNamespace("ip", "-br", "link").contains("virbr0"), "net-destroy removes the bridge");
            ok(again.virsh(uri, "net-destroy", "host"));
            assertTrue(inNamespace("ip", "-br", "link").contains("br-host"), "a host bridge is not ours to remove");
            ok(again.virsh(uri, "net-undefine", "isolated"));
            assertEquals("host", ok(again.virsh(uri, "net-list", "--all", "--name")).stdout().trim());
        }
    }

    @Test
    void natNetworkMasqueradesAndServesDhcp() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/sbin/nft")) && Files.isExecutable(Path.of("/usr/sbin/dnsmasq")),
                "NAT networks need nftables and dnsmasq-base");
        Path nat = xml("nat", """
                <network>
                  <name>natnet</name>
                  <forward mode='nat'/>
                  <bridge name='jvbr1'/>
                  <ip address='192.168.160.1' prefix='24'>
                    <dhcp><range start='192.168.160.10' end='192.168.160.100'/></dhcp>
                  </ip>
                </network>
                """);
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"), inNamespace())) {
            String uri = jvirtd.unixUri();
            ok(jvirtd.virsh(uri, "net-define", nat.toString()));
            ok(jvirtd.virsh(uri, "net-start", "natnet"));
            assertTrue(inNamespace("ip", "-br", "addr", "show", "jvbr1").contains("192.168.160.1/24"));
            String rules = inNamespace("nft", "list", "ruleset");
            assertTrue(rules.contains("ip saddr 192.168.160.0/24 ip daddr != 192.168.160.0/24 masquerade"), rules);
            assertEquals("1", inNamespace("cat", "/proc/sys/net/ipv4/ip_forward").trim());
            Path pidFile = dir.resolve("state/run/natnet.dnsmasq.pid");
            long dnsmasq = Long.parseLong(Files.readString(pidFile).trim());
            assertTrue(ProcessHandle.of(dnsmasq).map(ProcessHandle::isAlive).orElse(false), "dnsmasq serves DHCP");
            assertTrue(ProcessHandle.of(dnsmasq).flatMap(p -> p.info().arguments())
                    .map(a -> String.join(" ", a)).orElse("").contains("--dhcp-range=192.168.160.10,192.168.160.100"));

            ok(jvirtd.virsh(uri, "net-destroy", "natnet"));
            assertFalse(inNamespace("ip", "-br", "link").contains("jvbr1"));
            assertFalse(inNamespace("nft", "list", "ruleset").contains("masquerade"));
            long deadline = System.currentTimeMillis() + 5000;
            while (ProcessHandle.of(dnsmasq).map(ProcessHandle::isAlive).orElse(false) && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
            }
            assertFalse(ProcessHandle.of(dnsmasq).map(h -> h.isAlive() && h.info().command().isPresent()).orElse(false), "dnsmasq stopped");
        }
    }
}
