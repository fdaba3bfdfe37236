package dev.jvirt.lab;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class CpioWriterTest {

    @Test
    void gnuCpioExtractsWhatWeWrote(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/cpio")), "cpio not installed");
        ByteArrayOutputStream archive = new ByteArrayOutputStream();
        CpioWriter cpio = new CpioWriter(archive);
        cpio.file("hello.txt", 0100644, "hello, guest\n".getBytes(StandardCharsets.UTF_8));
        cpio.file("run.sh", 0100755, "echo odd-length".getBytes(StandardCharsets.UTF_8));
        cpio.finish();
        Process extract = new ProcessBuilder("cpio", "-id", "--quiet").directory(dir.toFile()).start();
        extract.getOutputStream().write(archive.toByteArray());
        extract.getOutputStream().close();
        assertEquals(0, extract.waitFor(), new String(extract.getErrorStream().readAllBytes()));
        assertEquals("hello, guest\n", Files.readString(dir.resolve("hello.txt")));
        assertEquals("echo odd-length", Files.readString(dir.resolve("run.sh")));
        assertEquals(true, Files.isExecutable(dir.resolve("run.sh")));
    }
}
