package dev.jvirt.lab;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * Adds files to the guest initramfs. Linux unpacks concatenated cpio archives in order, so the
 * base image followed by a small archive of our own is a valid initramfs with the files added.
 */
public final class GuestInitramfs {

    private GuestInitramfs() {
    }

    /** Writes {@code base} plus /scripts/NAME for each entry of {@code scripts} to {@code target}. */
    public static Path withScripts(Path base, Map<String, String> scripts, Path target) throws IOException {
        ByteArrayOutputStream extra = new ByteArrayOutputStream();
        try (OutputStream gzip = new GZIPOutputStream(extra)) {
            CpioWriter cpio = new CpioWriter(gzip);
            for (Map.Entry<String, String> script : scripts.entrySet()) {
                cpio.file("scripts/" + script.getKey(), 0100755, script.getValue().getBytes(StandardCharsets.UTF_8));
            }
            cpio.finish();
        }
        try (OutputStream out = Files.newOutputStream(target)) {
            Files.copy(base, out);
            extra.writeTo(out);
        }
        return target;
    }
}
