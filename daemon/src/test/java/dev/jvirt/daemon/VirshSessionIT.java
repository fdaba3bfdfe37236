package dev.jvirt.daemon;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The real virsh (Debian libvirt-clients) and libvirt-python drive bin/jvirtd over libvirt's own protocol. */
class VirshSessionIT {

    @AfterEach
    void killVmsATestLeftBehind() throws Exception {
        JvirtdProcess.killLeftoverVms();
    }

    @TempDir
    Path dir;

    @BeforeAll
    static void needClients() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/virsh")), "virsh (libvirt-clients) not installed; scripts/setup installs it");
    }

    private static String domainXml(String name) {
        return """
                <domain type='kvm'>
                  <name>%s</name>
                  <memory unit='MiB'>256</memory>
                  <currentMemory unit='MiB'>128</currentMemory>
                  <vcpu>2</vcpu>
                  <os><type arch='x86_64'>hvm</type><kernel>/boot/vmlinuz</kernel><cmdline>console=ttyS0</cmdline></os>
                  <on_poweroff>destroy</on_poweroff>
                  <devices><serial type='pty'/><console type='pty'/></devices>
                </domain>
                """.formatted(name);
    }

    private static JvirtdProcess.Result ok(JvirtdProcess.Result result) {
        assertEquals(0, result.status(), result.stdout() + result.stderr());
        return result;
    }

    @Test
    void scriptedVirshSessionOverTcpAndUnixSocket() throws Exception {
        Path xml = dir.resolve("web1.xml");
        Files.writeString(xml, domainXml("web1"));
        Files.writeString(dir.resolve("db1.xml"), domainXml("db1"));
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"))) {
            String tcp = jvirtd.tcpUri();
            String unix = jvirtd.unixUri();
            assertEquals("", ok(jvirtd.virshQuiet(tcp, "list", "--all")).stdout().trim(), "no domains yet");
            assertTrue(ok(jvirtd.virsh(tcp, "define", xml.toString())).stdout().contains("Domain 'web1' defined"));
            assertTrue(ok(jvirtd.virsh(unix, "define", dir.resolve("db1.xml").toString())).stdout().contains("Domain 'db1' defined"));
            String list = ok(jvirtd.virshQuiet(tcp, "list", "--all")).stdout();
            assertTrue(list.matches("(?s)\\s*-\\s+db1\\s+shut off\\s+-\\s+web1\\s+shut off\\s*"), list);
            assertEquals("", ok(jvirtd.virshQuiet(tcp, "list")).stdout().trim(), "nothing is running");
            assertEquals("db1\nweb1", ok(jvirtd.virsh(unix, "list", "--all", "--name")).stdout().trim());
            String info = ok(jvirtd.virsh(tcp, "dominfo", "web1")).stdout();
            assertTrue(info.matches("(?s).*CPU\\(s\\):\\s+2.*Max memory:\\s+262144 KiB.*Used memory:\\s+131072 KiB.*Persistent:\\s+yes.*"), info);
            assertEquals("shut off", ok(jvirtd.virsh(tcp, "domstate", "web1")).stdout().trim());
            String uuid = ok(jvirtd.virsh(tcp, "domuuid", "web1")).stdout().trim();
            assertTrue(uuid.matches("[0-9a-f-]{36}"), uuid);
            assertEquals("web1", ok(jvirtd.virsh(unix, "domname", uuid)).stdout().trim());
            String dump = ok(jvirtd.virsh(tcp, "dumpxml", "web1")).stdout();
            assertTrue(dump.contains("<uuid>" + uuid + "</uuid>") && dump.contains("<cmdline>console=ttyS0</cmdline>")
                    && dump.contains("<on_poweroff>destroy</on_poweroff>"), "definition kept as given, uuid added: " + dump);
            assertTrue(dump.contains("\n  <memory unit=\"MiB\">256</memory>\n"), "dumpxml is indented: " + dump);
            ok(jvirtd.virsh(tcp, "setvcpus", "web1", "1", "--config"));
            ok(jvirtd.virsh(tcp, "setmaxmem", "web1", "192M", "--config"));
            ok(jvirtd.virsh(tcp, "setmem", "web1", "64M", "--config"));
            assertTrue(ok(jvirtd.virsh(tcp, "dominfo", "web1")).stdout()
                    .matches("(?s).*CPU\\(s\\):\\s+1\\s.*Max memory:\\s+196608 KiB.*Used memory:\\s+65536 KiB.*"));
            assertEquals(1, jvirtd.virsh(tcp, "setmem", "web1", "1G", "--config").status(), "more than the maximum is refused");
            assertTrue(ok(jvirtd.virsh(tcp, "vcpucount", "web1")).stdout().matches("(?s)maximum\\s+config\\s+1\\s+current\\s+config\\s+1\\s*"));
            ok(jvirtd.virsh(tcp, "desc", "web1", "--title", "--config", "--new-desc", "Web server"));
            assertEquals("Web server", ok(jvirtd.virsh(tcp, "desc", "web1", "--title")).stdout().trim());
            assertTrue(ok(jvirtd.virshQuiet(tcp, "list", "--all", "--title")).stdout().contains("web1   shut off   Web server"));
            assertTrue(ok(jvirtd.virsh(tcp, "freecell")).stdout().matches("Total: \\d+ KiB\\s*"));
            assertTrue(ok(jvirtd.virsh(tcp, "autostart", "web1")).stdout().contains("marked as autostarted"));
            assertEquals("web1", ok(jvirtd.virsh(tcp, "list", "--all", "--autostart", "--name")).stdout().trim());
            assertTrue(ok(jvirtd.virsh(tcp, "autostart", "--disable", "web1")).stdout().contains("unmarked"));
            assertEquals("", ok(jvirtd.virsh(tcp, "list", "--all", "--autostart", "--name")).stdout().trim());
            assertTrue(ok(jvirtd.virsh(tcp, "nodeinfo")).stdout().contains("CPU model:           x86_64"));
            assertTrue(ok(jvirtd.virsh(tcp, "version")).stdout().contains("Running hypervisor: QEMU"));
            assertTrue(ok(jvirtd.virsh(tcp, "capabilities")).stdout().contains("<os_type>hvm</os_type>"));
            assertEquals(tcp, ok(jvirtd.virsh(tcp, "uri")).stdout().trim());
            assertTrue(!ok(jvirtd.virsh(tcp, "hostname")).stdout().isBlank());

            JvirtdProcess.Result missing = jvirtd.virsh(tcp, "dominfo", "nosuch");
            assertEquals(1, missing.status());
            assertTrue(missing.stderr().contains("failed to get domain 'nosuch'"), missing.stderr());
            Path bad = dir.resolve("bad.xml");
            Files.writeString(bad, "<domain type='kvm'>\n  <name>x</name>\n  <memory>1</memory\n</domain>");
            JvirtdProcess.Result invalid = jvirtd.virsh(tcp, "define", bad.toString());
            assertEquals(1, invalid.status());
            assertTrue(invalid.stderr().contains("XML error at line 4"), invalid.stderr());
            Files.writeString(bad, "<domain type='kvm'><name>x</name><memory>1024</memory><frobnicator/></domain>");
            assertTrue(jvirtd.virsh(tcp, "define", bad.toString()).stderr().contains("unsupported element <frobnicator>"));

            JvirtdProcess.Result readOnly = jvirtd.virsh(unix + "-ro", "undefine", "web1");
            assertEquals(1, readOnly.status());
            assertTrue(readOnly.stderr().contains("read only access prevents"), readOnly.stderr());

            JvirtdProcess.Result readOnlyTcp = JvirtdProcess.run("virsh", "-r", "-c", tcp, "define", dir.resolve("db1.xml").toString());
            assertEquals(1, readOnlyTcp.status(), "virsh -r cannot define");
            assertTrue(readOnlyTcp.stderr().contains("read only access prevents"), readOnlyTcp.stderr());
            assertEquals(1, JvirtdProcess.run("virsh", "-r", "-c", tcp, "autostart", "web1").status(), "virsh -r cannot change autostart");
            assertEquals("db1\nweb1", ok(JvirtdProcess.run("virsh", "-r", "-c", tcp, "list", "--all", "--name")).stdout().trim(),
                    "but it can look");

            assertTrue(ok(jvirtd.virsh(tcp, "undefine", "db1")).stdout().contains("Domain 'db1' has been undefined"));
            assertEquals("web1", ok(jvirtd.virsh(tcp, "list", "--all", "--name")).stdout().trim());
        }
    }

    @Test
    void unauthenticatedTcpBeyondLoopbackIsRefused() throws Exception {
        Process jvirtd = new ProcessBuilder(dev.jvirt.lab.Lab.projectRoot().resolve("bin/jvirtd").toString(), "--state-dir",
                dir.resolve("state").toString(), "--listen", "0.0.0.0:" + JvirtdProcess.freePort()).redirectErrorStream(true).start();
        String output = new String(jvirtd.getInputStream().readAllBytes());
        assertEquals(1, jvirtd.waitFor());
        assertTrue(output.contains("refusing unauthenticated TCP on non-loopback address 0.0.0.0"), output);
    }

    @Test
    void definitionsSurviveARestartAndTwoDaemonsCannotShareState() throws Exception {
        Path state = dir.resolve("state");
        Path xml = dir.resolve("keep.xml");
        Files.writeString(xml, domainXml("keep"));
        String uuid;
        try (JvirtdProcess first = JvirtdProcess.start(state)) {
            ok(first.virsh(first.tcpUri(), "define", xml.toString()));
            ok(first.virsh(first.tcpUri(), "autostart", "keep"));
            uuid = ok(first.virsh(first.tcpUri(), "domuuid", "keep")).stdout().trim();
            try (JvirtdProcess second = JvirtdProcess.start(state)) {
                assertEquals(1, second.process.waitFor(), "a second daemon on the same state directory exits");
                assertTrue(second.firstLine.contains("another jvirtd is already using the state directory"), second.firstLine);
            }
        }
        try (JvirtdProcess again = JvirtdProcess.start(state)) {
            assertEquals(uuid, ok(again.virsh(again.tcpUri(), "domuuid", "keep")).stdout().trim());
            assertTrue(ok(again.virsh(again.tcpUri(), "dominfo", "keep")).stdout().matches("(?s).*Autostart:\\s+enable.*"));
        }
    }

    @Test
    void libvirtPythonDoesTheSameOperations() throws Exception {
        assumeTrue(JvirtdProcess.run("/usr/bin/python3", "-c", "import libvirt").status() == 0, "python3-libvirt not installed");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"))) {
            String script = """
                    import libvirt, sys
                    conn = libvirt.open(sys.argv[1])
                    dom = conn.defineXML(sys.argv[2])
                    assert dom.name() == 'pyvm' and not dom.isActive() and dom.isPersistent()
                    assert dom.info()[0] == libvirt.VIR_DOMAIN_SHUTOFF and dom.info()[1] == 262144 and dom.info()[3] == 2
                    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, 0]
                    assert [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)] == ['pyvm']
                    assert conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE) == []
                    assert conn.lookupByUUIDString(dom.UUIDString()).name() == 'pyvm'
                    dom.setAutostart(1); assert dom.autostart() == 1
                    assert '<name>pyvm</name>' in dom.XMLDesc(0)
                    try:
                        conn.lookupByName('missing'); raise SystemExit('lookup of a missing domain succeeded')
                    except libvirt.libvirtError as e:
                        assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, e.get_error_code()
                    dom.undefine()
                    assert conn.listAllDomains() == []
                    pool = conn.storagePoolDefineXML("<pool type='dir'><name>py</name><target><path>%s</path></target></pool>" % sys.argv[3])
                    pool.build(0); pool.create(0)
                    assert pool.isActive() and pool.info()[0] == libvirt.VIR_STORAGE_POOL_RUNNING
                    vol = pool.createXML("<volume><name>v.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target></volume>", 0)
                    assert vol.info() [1] == 64 << 20 and vol.path() == sys.argv[3] + '/v.qcow2', vol.info()
                    assert pool.listVolumes() == ['v.qcow2'] and conn.storageVolLookupByPath(vol.path()).name() == 'v.qcow2'
                    assert "<format type='qcow2'/>" in vol.XMLDesc(0)
                    vol.delete(0); pool.destroy(); pool.undefine()
                    assert conn.listAllStoragePools() == []
                    net = conn.networkDefineXML("<network><name>pynet</name><bridge name='pybr0'/></network>")
                    assert net.bridgeName() == 'pybr0' and not net.isActive()
                    assert [n.name() for n in conn.listAllNetworks()] == ['pynet']
                    net.undefine()
                    print('python-ok')
                    """;
            JvirtdProcess.Result result = JvirtdProcess.run("/usr/bin/python3", "-c", script, jvirtd.tcpUri(), domainXml("pyvm"),
                    dir.resolve("pypool").toString());
            assertEquals("python-ok", result.stdout().trim(), result.stderr());
        }
    }

    @Test
    void garbageAndHugeLengthWordsDropOnlyThatClient() throws Exception {
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"))) {
            try (Socket garbage = new Socket("127.0.0.1", jvirtd.port); Socket huge = new Socket("127.0.0.1", jvirtd.port)) {
                garbage.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes());
                new DataOutputStream(huge.getOutputStream()).writeInt(100 << 20); // a 100 MB length word
                assertDisconnected(garbage);
                assertDisconnected(huge);
            }
            ok(jvirtd.virsh(jvirtd.tcpUri(), "list", "--all"));
        }
    }

    @Test
    void lengthWordsAloneDoNotExhaustMemory() throws Exception {
        // 100 clients each announce a message just under the 16 MiB limit and send nothing more:
        // with a 64 MiB heap the daemon survives only if it allocates as bytes arrive.
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"), List.of(), java.util.Map.of("JVIRT_JAVA_OPTS", "-Xmx64m"))) {
            List<Socket> idle = new ArrayList<>();
            try {
                for (int i = 0; i < 100; i++) {
                    Socket socket = new Socket("127.0.0.1", jvirtd.port);
                    DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                    out.writeInt((16 << 20) - 8);
                    out.write(new byte[40]);
                    out.flush();
                    idle.add(socket);
                }
                Thread.sleep(500);
                assertTrue(jvirtd.process.isAlive(), "the daemon is still running");
                ok(jvirtd.virsh(jvirtd.tcpUri(), "list", "--all"));
                int waiting = 0;
                for (Socket socket : idle) {
                    socket.setSoTimeout(20);
                    try {
                        socket.getInputStream().read();
                    } catch (java.net.SocketTimeoutException stillWaiting) {
                        waiting++; // the server still waits for the rest of this client's message
                    } catch (java.net.SocketException reset) {
                        // dropped
                    }
                }
                assertEquals(100, waiting, "every slow client is still served, none was dropped for want of memory");
            } finally {
                for (Socket socket : idle) {
                    socket.close();
                }
            }
        }
    }

    /** The server closed the connection: EOF, or a reset because our unread bytes were discarded. */
    private static void assertDisconnected(Socket socket) throws Exception {
        socket.setSoTimeout(10_000);
        try {
            assertEquals(-1, socket.getInputStream().read());
        } catch (java.net.SocketException reset) {
            assertTrue(reset.getMessage().contains("reset"), reset.getMessage());
        }
    }

    @Test
    void fiftyConcurrentClientsListFiveHundredDomains() throws Exception {
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"))) {
            String script = """
                    import libvirt, sys
                    conn = libvirt.open(sys.argv[1])
                    template = sys.argv[2]
                    for i in range(500):
                        conn.defineXML(template.replace('NAME', 'vm%03d' % i))
                    print(len(conn.listAllDomains()))
                    """;
            assumeTrue(JvirtdProcess.run("/usr/bin/python3", "-c", "import libvirt").status() == 0, "python3-libvirt not installed");
            JvirtdProcess.Result defined = JvirtdProcess.run("/usr/bin/python3", "-c", script, jvirtd.tcpUri(), domainXml("NAME"));
            assertEquals("500", defined.stdout().trim(), defined.stderr());
            ExecutorService pool = Executors.newFixedThreadPool(50);
            List<Future<JvirtdProcess.Result>> results = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                results.add(pool.submit(() -> jvirtd.virsh(jvirtd.tcpUri(), "list", "--all", "--name")));
            }
            for (Future<JvirtdProcess.Result> result : results) {
                JvirtdProcess.Result r = result.get();
                assertEquals(0, r.status(), r.stderr());
                assertEquals(500, r.stdout().trim().split("\n").length);
            }
            pool.shutdown();
        }
    }
}
