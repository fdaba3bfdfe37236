package dev.jvirt.block.qcow2;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** Positional reads and writes that do not stop short. */
final class Qcow2Io {

    private Qcow2Io() {
    }

    static void readFully(FileChannel file, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = file.read(buffer, at);
            if (n < 0) {
                throw new EOFException("read past the end of the image at 0x" + Long.toHexString(at));
            }
            at += n;
        }
    }

    static void writeFully(FileChannel file, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            at += file.write(buffer, at);
        }
    }
}
