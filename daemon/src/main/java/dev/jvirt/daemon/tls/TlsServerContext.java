package dev.jvirt.daemon.tls;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSession;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * The server side of libvirt's TLS transport (qemu+tls://, port 16514): the server certificate
 * and key, and the CA every client certificate must be signed by. As libvirtd does by default
 * (tls_no_verify_certificate = 0), a client certificate is asked for during the handshake and
 * checked right after it; only a client that passes is sent the confirmation byte and served.
 */
public final class TlsServerContext {

    /** Where the PEM files are; libvirt's defaults, a pkipath-style directory, or each given on its own. */
    public record Paths(Path caCert, Path serverCert, Path serverKey) {

        public static final Paths LIBVIRT_DEFAULTS = new Paths(Path.of("/etc/pki/CA/cacert.pem"),
                Path.of("/etc/pki/libvirt/servercert.pem"), Path.of("/etc/pki/libvirt/private/serverkey.pem"));

        /** The layout libvirtd's and virsh's {@code pkipath} use: DIR/cacert.pem, DIR/servercert.pem, DIR/serverkey.pem. */
        public static Paths inDirectory(Path directory) {
            return new Paths(directory.resolve("cacert.pem"), directory.resolve("servercert.pem"), directory.resolve("serverkey.pem"));
        }
    }

    /** RFC 8446's limit on a ticket's lifetime (7 days). */
    private static final int TICKET_LIFETIME_LIMIT_SECONDS = 604_800;

    private final SSLContext context;
    private final X509TrustManager authority;
    private final List<X509Certificate> authorities;

    private TlsServerContext(SSLContext context, X509TrustManager authority, List<X509Certificate> authorities) {
        this.context = context;
        this.authority = authority;
        this.authorities = List.copyOf(authorities);
    }

    /** Loads and sanity-checks the credentials, so a mistake stops the daemon at start with the file named. */
    public static TlsServerContext load(Paths paths) throws IOException {
        List<X509Certificate> cas = PemFiles.certificates(paths.caCert(), "CA certificate");
        List<X509Certificate> chain = PemFiles.certificates(paths.serverCert(), "server certificate");
        PrivateKey key = PemFiles.privateKey(paths.serverKey(), "server key");
        X509Certificate server = chain.getFirst();
        for (X509Certificate ca : cas) {
            if (ca.getBasicConstraints() < 0) {
                throw new IOException("CA certificate " + paths.caCert() + " (" + ca.getSubjectX500Principal()
                        + "): its basic constraints do not show a CA");
            }
        }
        try {
            server.checkValidity();
        } catch (CertificateException e) {
            throw new IOException("server certificate " + paths.serverCert() + " is not valid now: " + e.getMessage(), e);
        }
        if (!signedByOneOf(chain.getLast(), cas)) {
            throw new IOException("server certificate " + paths.serverCert() + " (issuer " + chain.getLast().getIssuerX500Principal()
                    + ") is not signed by the CA in " + paths.caCert());
        }
        if (!keyMatches(key, server)) {
            throw new IOException("server key " + paths.serverKey() + " does not belong to the certificate " + paths.serverCert());
        }
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                trust.setCertificateEntry("ca" + i, cas.get(i));
            }
            TrustManagerFactory trustFactory = TrustManagerFactory.getInstance("PKIX");
            trustFactory.init(trust);
            X509TrustManager authority = (X509TrustManager) trustFactory.getTrustManagers()[0];

            char[] password = new char[0];
            KeyStore identity = KeyStore.getInstance("PKCS12");
            identity.load(null, null);
            identity.setKeyEntry("server", key, password, chain.toArray(Certificate[]::new));
            KeyManagerFactory keyFactory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keyFactory.init(identity, password);

            // No TLS 1.3 session tickets, as libvirtd's gnutls sends none: virsh waits for the
            // socket to turn readable and then reads the confirmation byte without blocking, so
            // a ticket arriving first makes it fail with "Unable to read TLS confirmation:
            // Resource temporarily unavailable". The JDK sends none when told so by the
            // property, or when the session lifetime is beyond a ticket's 7 days.
            System.setProperty("jdk.tls.server.newSessionTicketCount", "0");
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keyFactory.getKeyManagers(), new TrustManager[] {new CheckedAfterHandshake(cas)}, null);
            context.getServerSessionContext().setSessionTimeout(TICKET_LIFETIME_LIMIT_SECONDS + 1);
            return new TlsServerContext(context, authority, cas);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS with " + paths.serverCert() + ": " + e.getMessage(), e);
        }
    }

    /** A listening socket that asks each client for its certificate. */
    public SSLServerSocket listen(InetSocketAddress address) throws IOException {
        SSLServerSocket socket = (SSLServerSocket) context.getServerSocketFactory().createServerSocket();
        socket.setReuseAddress(true);
        socket.bind(address);
        socket.setWantClientAuth(true);
        return socket;
    }

    /**
     * libvirt's virNetTLSContextCheckCertificate on the server: a certificate must have been
     * presented, chain to our CA, be within its validity, and be meant for TLS clients.
     *
     * @throws CertificateException saying why the client is refused
     */
    public void checkClient(SSLSession session) throws CertificateException {
        Certificate[] presented;
        try {
            presented = session.getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            throw new CertificateException("no client certificate was presented");
        }
        X509Certificate[] chain = new X509Certificate[presented.length];
        for (int i = 0; i < presented.length; i++) {
            if (!(presented[i] instanceof X509Certificate x509)) {
                throw new CertificateException("the client certificate is not X.509");
            }
            chain[i] = x509;
        }
        if (!signedByOneOf(chain[chain.length - 1], authorities)) {
            throw new CertificateException("certificate " + chain[0].getSubjectX500Principal() + " (issuer "
                    + chain[chain.length - 1].getIssuerX500Principal() + ") was not issued by our CA");
        }
        try {
            authority.checkClientTrusted(chain, chain[0].getPublicKey().getAlgorithm());
        } catch (CertificateException e) {
            throw new CertificateException("certificate " + chain[0].getSubjectX500Principal() + " is not trusted: " + e.getMessage(), e);
        }
    }

    private static boolean signedByOneOf(X509Certificate certificate, List<X509Certificate> cas) {
        for (X509Certificate ca : cas) {
            try {
                certificate.verify(ca.getPublicKey());
                return true;
            } catch (GeneralSecurityException e) {
                // try the next CA
            }
        }
        return false;
    }

    private static boolean keyMatches(PrivateKey key, X509Certificate certificate) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> key.getAlgorithm(); // Ed25519, Ed448
        };
        try {
            byte[] probe = "jvirtd key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /**
     * Asks for a certificate from clients signed by our CA (gnutls's GNUTLS_CERT_REQUEST) and
     * lets the handshake finish whatever is presented: the check follows the handshake in
     * {@link #checkClient}, before a single call is read, so a refused client is told plainly
     * by the missing confirmation byte instead of by a bare TLS alert.
     */
    private static final class CheckedAfterHandshake extends X509ExtendedTrustManager {

        private final X509Certificate[] issuers;

        CheckedAfterHandshake(List<X509Certificate> cas) {
            this.issuers = cas.toArray(X509Certificate[]::new);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("jvirtd is never a TLS client");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            throw new CertificateException("jvirtd is never a TLS client");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            throw new CertificateException("jvirtd is never a TLS client");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return issuers.clone();
        }
    }
}
