package dev.jvirt.block;

import dev.jvirt.block.vdi.VdiImage;
import dev.jvirt.block.vmdk.VmdkImage;
import dev.jvirt.block.vpc.VpcImage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

/**
 * The formats jvirt reads to import guests from other hypervisors (vmdk, vdi, vpc): probing them
 * by magic the way qemu-img does, and opening them, read-only only.
 */
public final class ImportFormats {

    public static final Set<String> NAMES = Set.of("vmdk", "vdi", "vpc");
    /** qemu-img probes the first 2 KiB of a file (BLOCK_PROBE_BUF_SIZE). */
    public static final int PROBE_BYTES = 2048;

    private ImportFormats() {
    }

    /**
     * The import format {@code head} (the file's first bytes, zero-padded to {@link #PROBE_BYTES})
     * shows, or null. As in qemu-img: "KDMV" (or "COWD") or a text descriptor for vmdk, the VDI
     * signature at 0x40, and "conectix" at offset 0 for vpc. A fixed VHD keeps its footer only at
     * the end, which qemu-img's probe never looks at, so it probes as raw there and here alike;
     * open it with -f vpc.
     */
    public static String probe(byte[] head, int length) {
        if (startsWith(head, "KDMV") || startsWith(head, "COWD") || vmdkDescriptor(head, length)) {
            return "vmdk";
        }
        if (startsWith(head, "conectix")) {
            return "vpc";
        }
        if (ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt(0x40) == 0xbeda107f) {
            return "vdi";
        }
        return null;
    }

    private static boolean startsWith(byte[] head, String magic) {
        byte[] bytes = magic.getBytes(StandardCharsets.US_ASCII);
        return head.length >= bytes.length && Arrays.equals(head, 0, bytes.length, bytes, 0, bytes.length);
    }

    private static boolean vmdkDescriptor(byte[] head, int length) {
        return dev.jvirt.block.vmdk.VmdkProbe.looksLikeDescriptor(head, length);
    }

    /** Opens {@code path} as {@code format}, one of {@link #NAMES}; writing is refused up front. */
    public static BlockDriver open(String format, Path path, OpenOptions options) throws IOException {
        if (!options.readOnly()) {
            throw new ImageException("Could not open '" + path + "': jvirt reads " + format
                    + " images to import them but does not write them; convert to qcow2 or raw first");
        }
        return switch (format) {
            case "vmdk" -> VmdkImage.open(path, options.cache());
            case "vdi" -> VdiImage.open(path, options.cache());
            case "vpc" -> VpcImage.open(path, options.cache());
            default -> throw new ImageException("Unknown driver '" + format + "'");
        };
    }
}
