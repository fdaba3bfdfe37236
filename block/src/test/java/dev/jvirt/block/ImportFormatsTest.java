package dev.jvirt.block;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Import formats are probed by their magic as qemu-img probes them, and are never opened for writing. */
class ImportFormatsTest {

    @TempDir
    Path dir;

    private String probe(byte[] head) throws IOException {
        Path file = dir.resolve("p-" + System.nanoTime());
        Files.write(file, head);
        return Images.probe(file);
    }

    private static byte[] startingWith(String text, int size) {
        byte[] bytes = new byte[size];
        byte[] magic = text.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(magic, 0, bytes, 0, magic.length);
        return bytes;
    }

    @Test
    void magicNamesTheFormat() throws IOException {
        assertEquals("vmdk", probe(startingWith("KDMV", 512)));
        assertEquals("vmdk", probe(startingWith("COWD", 512)));
        assertEquals("vmdk", probe(startingWith("# Disk DescriptorFile\nversion=1\nCID=1\n", 100)));
        assertEquals("vpc", probe(startingWith("conectix", 512)));
        byte[] vdi = startingWith("<<< Oracle VM VirtualBox Disk Image >>>\n", 512);
        ByteBuffer.wrap(vdi).order(ByteOrder.LITTLE_ENDIAN).putInt(0x40, 0xbeda107f);
        assertEquals("vdi", probe(vdi));
        // Like qemu-img's 2 KiB probe buffer, a short file is padded with zeroes, not refused.
        assertEquals("vdi", probe(java.util.Arrays.copyOf(vdi, 0x44)));
    }

    @Test
    void aFixedVhdProbesAsRawAsInQemuImg() throws IOException {
        // Its only footer is at the end, which qemu-img's probe never reads: -f vpc opens it.
        byte[] fixed = new byte[4096];
        System.arraycopy("conectix".getBytes(StandardCharsets.US_ASCII), 0, fixed, 4096 - 512, 8);
        assertEquals("raw", probe(fixed));
        assertEquals("raw", probe(new byte[0]));
        assertEquals("raw", probe(startingWith("version=1 is not a descriptor here\n", 100)));
    }

    @Test
    void importFormatsAreNeverOpenedForWriting() throws IOException {
        Path file = dir.resolve("x.vdi");
        Files.write(file, new byte[4096]);
        for (String format : ImportFormats.NAMES) {
            ImageException e = assertThrows(ImageException.class, () -> Images.open(file, OpenOptions.forWriting().withFormat(format)));
            assertTrue(e.getMessage().contains("does not write them"), e.getMessage());
        }
    }
}
