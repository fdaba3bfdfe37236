package dev.jvirt.daemon;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * libvirt's TLS transport: the real virsh connects with qemu+tls:// and a pkipath holding its CA,
 * certificate and key (made here with openssl, as an administrator would), and jvirtd serves only
 * clients whose certificates its CA signed.
 */
class TlsIT {

    @TempDir
    Path dir;

    private Path ca;
    private Path server;
    private Path client;

    @BeforeAll
    static void needVirshAndOpenssl() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/virsh")), "virsh not installed");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl not installed");
    }

    private static void openssl(String... args) throws Exception {
        String[] command = new String[args.length + 1];
        command[0] = "/usr/bin/openssl";
        System.arraycopy(args, 0, command, 1, args.length);
        JvirtdProcess.Result result = JvirtdProcess.run(command);
        assertEquals(0, result.status(), String.join(" ", command) + ": " + result.stderr());
    }

    /** A CA, then a certificate it signs for {@code subject} with the given X.509 v3 extensions. */
    private void makeCa(Path caDir, String name) throws Exception {
        Files.createDirectories(caDir);
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=" + name, "-keyout", caDir.resolve("cakey.pem").toString(), "-out", caDir.resolve("cacert.pem").toString(),
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    private void issue(Path caDir, Path key, Path cert, String subject, String extensions, boolean rsaTraditional) throws Exception {
        if (rsaTraditional) {
            openssl("genrsa", "-traditional", "-out", key.toString(), "2048"); // "RSA PRIVATE KEY", as certtool writes
        } else {
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.toString());
        }
        Path request = dir.resolve("request.csr");
        Path extensionFile = dir.resolve("extensions.cnf");
        Files.writeString(extensionFile, extensions);
        openssl("req", "-new", "-key", key.toString(), "-subj", "/CN=" + subject, "-out", request.toString());
        openssl("x509", "-req", "-in", request.toString(), "-CA", caDir.resolve("cacert.pem").toString(),
                "-CAkey", caDir.resolve("cakey.pem").toString(), "-CAcreateserial", "-days", "2",
                "-extfile", extensionFile.toString(), "-out", cert.toString());
    }

    @BeforeEach
    void pki() throws Exception {
        ca = dir.resolve("ca");
        makeCa(ca, "jvirt test CA");
        server = dir.resolve("server");
        Files.createDirectories(server);
        Files.copy(ca.resolve("cacert.pem"), server.resolve("cacert.pem"));
        issue(ca, server.resolve("serverkey.pem"), server.resolve("servercert.pem"), "localhost",
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                        + "subjectAltName=DNS:localhost,IP:127.0.0.1\n", true);
        client = dir.resolve("client");
        Files.createDirectories(client);
        Files.copy(ca.resolve("cacert.pem"), client.resolve("cacert.pem"));
        issue(ca, client.resolve("clientkey.pem"), client.resolve("clientcert.pem"), "admin",
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n", false);
    }

    private static int tlsPort(JvirtdProcess jvirtd) {
        Matcher port = Pattern.compile("TLS on 127\\.0\\.0\\.1:(\\d+)").matcher(String.valueOf(jvirtd.firstLine));
        assertTrue(port.find(), "jvirtd says where it serves TLS: " + jvirtd.firstLine);
        return Integer.parseInt(port.group(1));
    }

    private static String uri(String host, int port, Path pkipath) {
        return "qemu+tls://" + host + ":" + port + "/system?pkipath=" + pkipath + "&no_verify=0";
    }

    private static JvirtdProcess.Result ok(JvirtdProcess.Result result) {
        assertEquals(0, result.status(), result.stdout() + result.stderr());
        return result;
    }

    private static void awaitLog(JvirtdProcess jvirtd, String text) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 10_000;
        while (!jvirtd.log().contains(text) && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        assertTrue(jvirtd.log().contains(text), "jvirtd logs '" + text + "': " + jvirtd.log());
    }

    @Test
    void virshWithACertificateFromOurCaIsServed() throws Exception {
        try (JvirtdProcess jvirtd = JvirtdProcess.startWith(dir.resolve("state"), "--listen-tls", "127.0.0.1:0",
                "--tls-pkipath", server.toString())) {
            int port = tlsPort(jvirtd);
            Path xml = dir.resolve("quiet.xml");
            Files.writeString(xml, "<domain type='kvm'><name>quiet</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>"
                    + "<os><type>hvm</type><kernel>/nonexistent</kernel></os></domain>");
            ok(jvirtd.virsh(uri("localhost", port, client), "define", xml.toString()));
            assertEquals("quiet", ok(jvirtd.virshQuiet(uri("localhost", port, client), "list", "--all", "--name")).stdout().trim());
            assertEquals("quiet", ok(jvirtd.virshQuiet(jvirtd.tcpUri(), "list", "--all", "--name")).stdout().trim(),
                    "the same daemon behind both transports");
            assertEquals("quiet", ok(jvirtd.virshQuiet(uri("127.0.0.1", port, client), "list", "--all", "--name")).stdout().trim(),
                    "the server certificate names 127.0.0.1 too");
            ok(jvirtd.virsh(uri("localhost", port, client), "undefine", "quiet"));
            assertEquals("", ok(jvirtd.virshQuiet(uri("localhost", port, client), "list", "--all", "--name")).stdout().trim());
        }
    }

    @Test
    void clientsWithoutACertificateFromOurCaAreRefused() throws Exception {
        try (JvirtdProcess jvirtd = JvirtdProcess.startWith(dir.resolve("state"), "--listen-tls", "127.0.0.1:0",
                "--tls-pkipath", server.toString())) {
            int port = tlsPort(jvirtd);

            Path anonymous = dir.resolve("anonymous"); // trusts the server, has no certificate of its own
            Files.createDirectories(anonymous);
            Files.copy(ca.resolve("cacert.pem"), anonymous.resolve("cacert.pem"));
            JvirtdProcess.Result refused = jvirtd.virsh(uri("localhost", port, anonymous), "list");
            assertEquals(1, refused.status());
            assertTrue(refused.stderr().contains("server verification (of our certificate or IP address) failed"), refused.stderr());
            awaitLog(jvirtd, "refused: no client certificate was presented");

            // A certificate from another CA, presented by openssl (virsh would not even offer it:
            // the server names the CAs it takes). No confirmation byte comes, only the end of the stream.
            Path rogueCa = dir.resolve("rogue-ca");
            makeCa(rogueCa, "rogue CA");
            Path rogueKey = dir.resolve("roguekey.pem");
            Path rogueCert = dir.resolve("roguecert.pem");
            issue(rogueCa, rogueKey, rogueCert, "intruder",
                    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n", false);
            assertEquals(-1, firstByteFromServer(port, rogueCert, rogueKey), "no confirmation byte for a foreign certificate");
            awaitLog(jvirtd, "certificate CN=intruder (issuer CN=rogue CA) was not issued by our CA");
            assertEquals(1, firstByteFromServer(port, client.resolve("clientcert.pem"), client.resolve("clientkey.pem")),
                    "libvirt's confirmation byte for our own client certificate");

            ok(jvirtd.virsh(uri("localhost", port, client), "list"));
        }
    }

    /** Connects with openssl s_client and returns the first byte the server sends after the handshake, -1 for none. */
    private int firstByteFromServer(int port, Path cert, Path key) throws Exception {
        Process process = new ProcessBuilder("/usr/bin/openssl", "s_client", "-quiet", "-connect", "127.0.0.1:" + port,
                "-cert", cert.toString(), "-key", key.toString(), "-CAfile", ca.resolve("cacert.pem").toString(),
                "-verify_return_error").redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (OutputStream stdin = process.getOutputStream(); InputStream stdout = process.getInputStream()) {
            int first = stdout.read();
            stdin.close();
            return first;
        } finally {
            process.destroy();
            process.waitFor();
        }
    }

    @Test
    void mistakesInTheServerCredentialsStopTheDaemonWithTheFileNamed() throws Exception {
        Path empty = dir.resolve("empty");
        Files.createDirectories(empty);
        try (JvirtdProcess missing = JvirtdProcess.startWith(dir.resolve("state1"), "--listen-tls", "127.0.0.1:0",
                "--tls-pkipath", empty.toString())) {
            assertEquals(1, missing.process.waitFor());
            assertEquals("jvirtd: cannot read CA certificate " + empty.resolve("cacert.pem") + ": no such file", missing.firstLine);
        }
        Path otherCa = dir.resolve("other-ca");
        makeCa(otherCa, "some other CA");
        try (JvirtdProcess wrongCa = JvirtdProcess.startWith(dir.resolve("state2"), "--listen-tls", "127.0.0.1:0",
                "--tls-pkipath", server.toString(), "--tls-cacert", otherCa.resolve("cacert.pem").toString())) {
            assertEquals(1, wrongCa.process.waitFor());
            assertTrue(wrongCa.firstLine.contains("server certificate " + server.resolve("servercert.pem") + " (issuer CN=jvirt test CA)"
                    + " is not signed by the CA in " + otherCa.resolve("cacert.pem")), wrongCa.firstLine);
        }
        try (JvirtdProcess wrongKey = JvirtdProcess.startWith(dir.resolve("state3"), "--listen-tls", "127.0.0.1:0",
                "--tls-pkipath", server.toString(), "--tls-key", client.resolve("clientkey.pem").toString())) {
            assertEquals(1, wrongKey.process.waitFor());
            assertTrue(wrongKey.firstLine.contains("does not belong to the certificate"), wrongKey.firstLine);
        }
    }
}
