package dev.jvirt.block;

import dev.jvirt.block.qcow2.Qcow2Header;
import dev.jvirt.block.qcow2.Qcow2Image;
import dev.jvirt.block.raw.RawImage;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Opens images by path: probes the format when none is given (as qemu-img does, with the same
 * warning-free result for raw files), and opens backing chains of any depth, read-only below the
 * top, refusing loops.
 */
public final class Images {

    /** Deeper chains than this are refused, as a guard against loops through different names. */
    public static final int MAX_CHAIN_DEPTH = 256;

    private Images() {
    }

    public static BlockDriver open(Path path, OpenOptions options) throws IOException {
        return open(path, options, new HashSet<>(), 0);
    }

    /** "qcow2" when the file starts with the qcow2 magic, an import format by its magic (see ImportFormats), otherwise "raw". */
    public static String probe(Path path) throws IOException {
        try (InputStream in = Files.newInputStream(path)) {
            byte[] magic = java.util.Arrays.copyOf(in.readNBytes(ImportFormats.PROBE_BYTES), ImportFormats.PROBE_BYTES);
            if (((magic[0] & 0xFF) << 24 | (magic[1] & 0xFF) << 16 | (magic[2] & 0xFF) << 8 | (magic[3] & 0xFF))
                    == Qcow2Header.MAGIC) {
                return "qcow2";
            }
            String imported = ImportFormats.probe(magic, magic.length);
            return imported != null ? imported : "raw";
        } catch (NoSuchFileException e) {
            throw new ImageException("Could not open '" + path + "': No such file or directory");
        }
    }

    /** Where a backing file name points, resolved as QEMU does: relative to the overlay's directory. */
    public static Path resolveBacking(Path overlay, String backingName) {
        Path backing = Path.of(backingName);
        if (backing.isAbsolute()) {
            return backing;
        }
        Path parent = overlay.toAbsolutePath().getParent();
        return parent == null ? backing : parent.resolve(backing);
    }

    private static BlockDriver open(Path path, OpenOptions options, Set<Path> seen, int depth) throws IOException {
        if (!Files.exists(path)) {
            throw new ImageException("Could not open '" + path + "': No such file or directory");
        }
        if (depth > MAX_CHAIN_DEPTH) {
            throw new ImageException(path + ": backing chain is deeper than " + MAX_CHAIN_DEPTH);
        }
        Path real = path.toRealPath();
        if (!seen.add(real)) {
            throw new ImageException(path + ": backing chain loops back to " + real);
        }
        String format = options.format() != null ? options.format() : probe(path);
        return switch (format) {
            case "raw" -> RawImage.open(path, options.readOnly(), options.cache());
            case "qcow2" -> {
                Qcow2Header header = Qcow2Image.readHeader(path);
                BlockDriver backing = null;
                if (header.backingFile() != null) {
                    Path backingPath = resolveBacking(path, header.backingFile());
                    OpenOptions below = new OpenOptions(true, options.cache(), header.backingFormat());
                    backing = open(backingPath, below, seen, depth + 1);
                }
                try {
                    yield Qcow2Image.open(path, header, backing, options.readOnly(), options.cache());
                } catch (IOException | RuntimeException e) {
                    if (backing != null) {
                        backing.close();
                    }
                    throw e;
                }
            }
            case "vmdk", "vdi", "vpc" -> ImportFormats.open(format, path, options);
            default -> throw new ImageException("Unknown driver '" + format + "'");
        };
    }
}
