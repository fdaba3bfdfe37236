package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Points a qcow2 image at another backing file (or at none), as qemu-img rebase does once the
 * data is in place: the header fields, the header extensions (the backing format one replaced,
 * every other one kept byte for byte) and the backing file name are rebuilt in the first cluster
 * and written with one write.
 */
public final class Qcow2BackingChanger {

    private Qcow2BackingChanger() {
    }

    /** {@code backingFile} null removes the backing file; {@code backingFormat} null leaves the format unrecorded. */
    public static void change(Path path, String backingFile, String backingFormat) throws IOException {
        try (Qcow2File image = Qcow2File.openForUpdate(path)) {
            Qcow2Header header = image.header;
            int clusterSize = image.clusterSize;
            ByteBuffer old = ByteBuffer.allocate((int) Math.min(clusterSize, image.file.size()));
            Qcow2Io.readFully(image.file, old, 0);
            int fixedLength = header.version == 2 ? Qcow2Header.V2_HEADER_LENGTH : header.headerLength;
            List<byte[]> kept = keptExtensions(old, fixedLength, header);

            ByteBuffer updated = ByteBuffer.allocate(clusterSize);
            updated.put(0, old, 0, fixedLength);
            int at = fixedLength;
            if (backingFile != null && backingFormat != null) {
                at = putExtension(updated, at, Qcow2Header.EXT_BACKING_FORMAT, backingFormat.getBytes(StandardCharsets.UTF_8), clusterSize);
            }
            for (byte[] extension : kept) {
                if (at + extension.length > clusterSize) {
                    throw noSpace(backingFile);
                }
                updated.put(at, extension);
                at += extension.length;
            }
            if (at + 8 > clusterSize) {
                throw noSpace(backingFile);
            }
            updated.putLong(at, 0);                          // end of extensions
            at += 8;
            if (backingFile != null) {
                byte[] name = backingFile.getBytes(StandardCharsets.UTF_8);
                if (name.length > 1023 || at + name.length > clusterSize) {
                    throw noSpace(backingFile);
                }
                updated.put(at, name);
                updated.putLong(8, at);
                updated.putInt(16, name.length);
                at += name.length;
            } else {
                updated.putLong(8, 0);
                updated.putInt(16, 0);
            }
            // Clear what the old header used beyond the new one, so no stale name lingers.
            int oldEnd = oldHeaderEnd(old, header, fixedLength);
            int length = Math.max(at, Math.min(oldEnd, clusterSize));
            updated.limit(length);
            Qcow2Io.writeFully(image.file, updated, 0);
            image.barrier();
        }
    }

    private static ImageException noSpace(String backingFile) {
        return new ImageException("Could not change the backing file to '" + backingFile + "': No space left in the file header");
    }

    private static int putExtension(ByteBuffer b, int at, int type, byte[] data, int clusterSize) throws ImageException {
        int padded = (data.length + 7) & ~7;
        if (at + 8 + padded > clusterSize) {
            throw new ImageException("Could not change the backing file: No space left in the file header");
        }
        b.putInt(at, type);
        b.putInt(at + 4, data.length);
        b.put(at + 8, data);
        return at + 8 + padded;
    }

    /** Every extension but the backing format and the end marker, raw (type, length, padded data). */
    private static List<byte[]> keptExtensions(ByteBuffer b, int from, Qcow2Header header) {
        List<byte[]> kept = new ArrayList<>();
        int end = header.backingFileOffset > 0 && header.backingFileOffset < b.limit() ? (int) header.backingFileOffset : b.limit();
        int at = from;
        while (at + 8 <= end) {
            int type = b.getInt(at);
            int length = b.getInt(at + 4);
            if (type == Qcow2Header.EXT_END || length < 0 || length > end - at - 8) {
                break;
            }
            int total = 8 + ((length + 7) & ~7);
            if (type != Qcow2Header.EXT_BACKING_FORMAT) {
                byte[] raw = new byte[Math.min(total, end - at)];
                b.get(at, raw);
                kept.add(java.util.Arrays.copyOf(raw, total));
            }
            at += total;
        }
        return kept;
    }

    private static int oldHeaderEnd(ByteBuffer b, Qcow2Header header, int fixedLength) {
        if (header.backingFileOffset > 0) {
            return (int) Math.min(b.limit(), header.backingFileOffset + header.backingFileSize);
        }
        int at = fixedLength;
        while (at + 8 <= b.limit()) {
            int type = b.getInt(at);
            int length = b.getInt(at + 4);
            if (type == Qcow2Header.EXT_END || length < 0 || length > b.limit() - at - 8) {
                return at + 8;
            }
            at += 8 + ((length + 7) & ~7);
        }
        return b.limit();
    }
}
