package dev.jvirt.daemon.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Reads the PEM files libvirt's PKI layout holds: certificates, and private keys as openssl
 * (PKCS#8 "PRIVATE KEY") and certtool or older openssl (PKCS#1 "RSA PRIVATE KEY") write them.
 */
public final class PemFiles {

    private PemFiles() {
    }

    /** Every certificate in the file, in order (a server certificate may be followed by its intermediates). */
    public static List<X509Certificate> certificates(Path file, String what) throws IOException {
        List<byte[]> blocks;
        try {
            blocks = blocks(read(file, what), "CERTIFICATE");
        } catch (IllegalArgumentException e) {
            throw new IOException(what + " " + file + " is not valid PEM: " + e.getMessage(), e);
        }
        if (blocks.isEmpty()) {
            throw new IOException(what + " " + file + " holds no PEM CERTIFICATE block");
        }
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            List<X509Certificate> certificates = new ArrayList<>();
            for (byte[] der : blocks) {
                certificates.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(der)));
            }
            return certificates;
        } catch (CertificateException e) {
            throw new IOException(what + " " + file + " is not a valid X.509 certificate: " + e.getMessage(), e);
        }
    }

    public static PrivateKey privateKey(Path file, String what) throws IOException {
        String pem = read(file, what);
        try {
            List<byte[]> pkcs8 = blocks(pem, "PRIVATE KEY");
            if (!pkcs8.isEmpty()) {
                return pkcs8Key(pkcs8.getFirst());
            }
            List<byte[]> pkcs1 = blocks(pem, "RSA PRIVATE KEY");
            if (!pkcs1.isEmpty()) {
                return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(wrapRsaPkcs1(pkcs1.getFirst())));
            }
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IOException(what + " " + file + " is not a usable private key: " + e.getMessage(), e);
        }
        if (pem.contains("ENCRYPTED PRIVATE KEY") || pem.contains("Proc-Type: 4,ENCRYPTED")) {
            throw new IOException(what + " " + file + " is encrypted; jvirtd (like libvirtd) needs it unencrypted");
        }
        throw new IOException(what + " " + file + " holds no PEM \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" block"
                + " (convert others with: openssl pkcs8 -topk8 -nocrypt)");
    }

    private static PrivateKey pkcs8Key(byte[] der) throws GeneralSecurityException {
        GeneralSecurityException last = null;
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
                last = e;
            }
        }
        throw last;
    }

    /**
     * PKCS#1 RSAPrivateKey wrapped as PKCS#8 PrivateKeyInfo: SEQUENCE { INTEGER 0,
     * SEQUENCE { rsaEncryption OID, NULL }, OCTET STRING { pkcs1 } }.
     */
    static byte[] wrapRsaPkcs1(byte[] pkcs1) {
        byte[] version = {0x02, 0x01, 0x00};
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
        byte[] key = tlv(0x04, pkcs1);
        byte[] body = new byte[version.length + algorithm.length + key.length];
        System.arraycopy(version, 0, body, 0, version.length);
        System.arraycopy(algorithm, 0, body, version.length, algorithm.length);
        System.arraycopy(key, 0, body, version.length + algorithm.length, key.length);
        return tlv(0x30, body);
    }

    private static byte[] tlv(int tag, byte[] value) {
        int length = value.length;
        byte[] header;
        if (length < 0x80) {
            header = new byte[] {(byte) tag, (byte) length};
        } else if (length < 0x100) {
            header = new byte[] {(byte) tag, (byte) 0x81, (byte) length};
        } else if (length < 0x10000) {
            header = new byte[] {(byte) tag, (byte) 0x82, (byte) (length >> 8), (byte) length};
        } else {
            header = new byte[] {(byte) tag, (byte) 0x83, (byte) (length >> 16), (byte) (length >> 8), (byte) length};
        }
        byte[] out = new byte[header.length + length];
        System.arraycopy(header, 0, out, 0, header.length);
        System.arraycopy(value, 0, out, header.length, length);
        return out;
    }

    /** The base64 bodies of every {@code -----BEGIN label-----} block, exactly that label. */
    static List<byte[]> blocks(String pem, String label) {
        String begin = "-----BEGIN " + label + "-----";
        String end = "-----END " + label + "-----";
        List<byte[]> blocks = new ArrayList<>();
        int from = 0;
        while (true) {
            int start = pem.indexOf(begin, from);
            if (start < 0) {
                return blocks;
            }
            int stop = pem.indexOf(end, start);
            if (stop < 0) {
                throw new IllegalArgumentException("PEM block '" + label + "' has no END line");
            }
            String body = pem.substring(start + begin.length(), stop).replaceAll("\\s", "");
            blocks.add(Base64.getDecoder().decode(body));
            from = stop + end.length();
        }
    }

    private static String read(Path file, String what) throws IOException {
        try {
            return Files.readString(file, StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new IOException("cannot read " + what + " " + file + ": no such file", e);
        } catch (IOException e) {
            throw new IOException("cannot read " + what + " " + file + ": " + e.getMessage(), e);
        }
    }
}
