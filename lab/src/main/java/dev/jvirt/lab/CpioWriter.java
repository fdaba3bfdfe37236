package dev.jvirt.lab;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Writes a cpio archive in the "newc" format, the one the Linux initramfs unpacker reads. */
public final class CpioWriter {

    private final OutputStream out;
    private long written;
    private int inode = 1000;

    public CpioWriter(OutputStream out) {
        this.out = out;
    }

    public void file(String path, int mode, byte[] content) throws IOException {
        entry(path, mode, content);
    }

    /** The trailer that ends every archive. */
    public void finish() throws IOException {
        entry("TRAILER!!!", 0, new byte[0]);
    }

    private void entry(String name, int mode, byte[] content) throws IOException {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.US_ASCII);
        String header = "070701" + hex(inode++) + hex(mode) + hex(0) + hex(0) + hex(1) + hex(0) + hex(content.length)
                + hex(0) + hex(0) + hex(0) + hex(0) + hex(nameBytes.length) + hex(0);
        write(header.getBytes(StandardCharsets.US_ASCII));
        write(nameBytes);
        pad();
        write(content);
        pad();
    }

    private static String hex(int value) {
        return String.format("%08X", value);
    }

    private void write(byte[] bytes) throws IOException {
        out.write(bytes);
        written += bytes.length;
    }

    private void pad() throws IOException {
        while (written % 4 != 0) {
            write(new byte[] {0});
        }
    }
}
