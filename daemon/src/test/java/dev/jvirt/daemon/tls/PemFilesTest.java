package dev.jvirt.daemon.tls;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.util.Arrays;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PemFilesTest {

    @TempDir
    Path dir;

    private Path pem(String name, String label, byte[] der) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, "-----BEGIN " + label + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
                + "\n-----END " + label + "-----\n");
        return file;
    }

    @Test
    void rsaKeysAreReadAsPkcs8AndAsCerttoolsPkcs1() throws Exception {
        PrivateKey key = KeyPairGenerator.getInstance("RSA").generateKeyPair().getPrivate();
        byte[] pkcs8 = key.getEncoded();
        // PrivateKeyInfo: 30 82 LL LL | 02 01 00 | 30 0d <rsaEncryption, NULL> | 04 82 LL LL <RSAPrivateKey>
        byte[] pkcs1 = Arrays.copyOfRange(pkcs8, 4 + 3 + 15 + 4, pkcs8.length);
        assertArrayEquals(pkcs8, PemFiles.wrapRsaPkcs1(pkcs1));
        assertEquals(key, PemFiles.privateKey(pem("pkcs8.pem", "PRIVATE KEY", pkcs8), "key"));
        assertEquals(key, PemFiles.privateKey(pem("pkcs1.pem", "RSA PRIVATE KEY", pkcs1), "key"));
    }

    @Test
    void ecKeysAreRead() throws Exception {
        PrivateKey key = KeyPairGenerator.getInstance("EC").generateKeyPair().getPrivate();
        assertEquals(key, PemFiles.privateKey(pem("ec.pem", "PRIVATE KEY", key.getEncoded()), "key"));
    }

    @Test
    void mistakesNameTheFile() throws Exception {
        Path missing = dir.resolve("missing.pem");
        assertEquals("cannot read CA certificate " + missing + ": no such file",
                assertThrows(IOException.class, () -> PemFiles.certificates(missing, "CA certificate")).getMessage());
        Path encrypted = pem("encrypted.pem", "ENCRYPTED PRIVATE KEY", new byte[] {1, 2, 3});
        assertTrue(assertThrows(IOException.class, () -> PemFiles.privateKey(encrypted, "server key")).getMessage()
                .endsWith("is encrypted; jvirtd (like libvirtd) needs it unencrypted"));
        Path garbage = pem("garbage.pem", "CERTIFICATE", new byte[] {0x30, 0x03, 1, 2, 3});
        assertTrue(assertThrows(IOException.class, () -> PemFiles.certificates(garbage, "server certificate")).getMessage()
                .startsWith("server certificate " + garbage + " is not a valid X.509 certificate"));
        Path noKey = pem("cert-only.pem", "CERTIFICATE", new byte[] {1});
        assertTrue(assertThrows(IOException.class, () -> PemFiles.privateKey(noKey, "server key")).getMessage()
                .contains("holds no PEM \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" block"));
        Path truncated = dir.resolve("truncated.pem");
        Files.writeString(truncated, "-----BEGIN CERTIFICATE-----\nMIIB\n");
        assertTrue(assertThrows(IOException.class, () -> PemFiles.certificates(truncated, "CA certificate")).getMessage()
                .contains("has no END line"));
    }
}
