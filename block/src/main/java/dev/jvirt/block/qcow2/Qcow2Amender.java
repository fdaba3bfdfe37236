package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * qemu-img amend for the compatibility level and lazy refcounts. A version change rebuilds the
 * header (fixed part, extensions, backing file name) in the first cluster and writes it with one
 * write, so a crash leaves the old image or the new one. A downgrade to version 2 first turns
 * zero clusters into something version 2 reads as zeroes (see {@link #expandZeroClusters}); a
 * crash during that leaves a version 3 image that still reads the same.
 */
public final class Qcow2Amender {

    /** Bitmaps need the autoclear field, which version 2 lacks; QEMU drops them on downgrade, we refuse. */
    private static final int EXT_BITMAPS = 0x23852875;
    private static final int SNAPSHOT_FIXED_BYTES = 40;
    /** qcow2.txt: version 3 snapshots carry at least the 64-bit VM state size and the disk size. */
    private static final int V3_MIN_SNAPSHOT_EXTRA = 16;

    private Qcow2Amender() {
    }

    /** {@code version} 2 or 3, or null to keep it; {@code lazyRefcounts} null to keep the setting. */
    public static void amend(Path path, Integer version, Boolean lazyRefcounts) throws IOException {
        try (Qcow2File image = Qcow2File.openForUpdate(path)) {
            Qcow2Header header = image.header;
            int newVersion = version == null ? header.version : version;
            boolean lazy = lazyRefcounts == null ? header.lazyRefcounts() : lazyRefcounts;
            if (lazy && newVersion < 3) {
                throw new ImageException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
            }
            if (newVersion < header.version) {
                checkDowngradable(header);
                expandZeroClusters(image);
            } else if (newVersion > header.version) {
                checkUpgradable(image);
            }
            if (newVersion == header.version && lazy == header.lazyRefcounts()) {
                return;
            }
            ByteBuffer rebuilt = newVersion == header.version ? withLazyRefcounts(image, lazy) : rebuild(image, newVersion, lazy);
            Qcow2Io.writeFully(image.file, rebuilt, 0);
            image.barrier();
        }
    }

    private static void checkDowngradable(Qcow2Header header) throws ImageException {
        if (header.refcountOrder != 4) {
            throw new ImageException("compat=0.10 requires refcount_bits=16");
        }
        if (header.compressionType != 0) {
            // qemu-img 7.2 downgrades these silently and then misreads any zstd cluster as deflate.
            throw new ImageException("Cannot downgrade an image with compression type zstd");
        }
        if ((header.incompatibleFeatures & ~Qcow2Header.INCOMPAT_COMPRESSION) != 0) {
            throw new ImageException("Cannot downgrade an image with incompatible features 0x"
                    + Long.toHexString(header.incompatibleFeatures));
        }
        for (Qcow2Header.Extension extension : header.otherExtensions) {
            if (extension.type() == EXT_BITMAPS) {
                throw new ImageException("Cannot downgrade an image with persistent bitmaps (remove them first)");
            }
        }
    }

    /** Version 3 snapshot entries need 16 bytes of extra data; rewriting old entries is not done here. */
    private static void checkUpgradable(Qcow2File image) throws IOException {
        Qcow2Header header = image.header;
        if (header.snapshotCount == 0) {
            return;
        }
        Qcow2SnapshotTable.read(image.file, header, image.name); // validates the table's bounds first
        long at = header.snapshotsOffset;
        for (int i = 0; i < header.snapshotCount; i++) {
            ByteBuffer fixed = ByteBuffer.allocate(SNAPSHOT_FIXED_BYTES);
            Qcow2Io.readFully(image.file, fixed, at);
            int idLength = Short.toUnsignedInt(fixed.getShort(12));
            int nameLength = Short.toUnsignedInt(fixed.getShort(14));
            int extra = fixed.getInt(36);
            if (extra < V3_MIN_SNAPSHOT_EXTRA) {
                throw new ImageException("Upgrading images whose snapshots lack version 3 extra data is not supported yet");
            }
            at += (SNAPSHOT_FIXED_BYTES + extra + idLength + nameLength + 7) & ~7L;
        }
    }

    /**
     * Version 2 has no zero flag. Where a zero cluster would read zeroes anyway once the flag is
     * gone (unallocated, no backing file) the entry is cleared; a preallocated zero cluster that
     * only this entry uses gets its host cluster zeroed (data first, then the entry). Everything
     * else (zero clusters over a backing file, shared preallocated ones) is refused before any
     * write, as a first pass over every L1 table finds them.
     */
    private static void expandZeroClusters(Qcow2File image) throws IOException {
        List<long[]> l1Tables = new ArrayList<>();
        l1Tables.add(image.l1);
        for (Qcow2Snapshot snapshot : Qcow2SnapshotTable.read(image.file, image.header, image.name).snapshots()) {
            long[] table = new long[snapshot.l1Size()];
            ByteBuffer bytes = ByteBuffer.allocate(snapshot.l1Size() * 8);
            Qcow2Io.readFully(image.file, bytes, snapshot.l1TableOffset());
            for (int i = 0; i < table.length; i++) {
                table[i] = bytes.getLong(i * 8);
            }
            l1Tables.add(table);
        }
        boolean backing = image.header.backingFile != null;
        for (int pass = 0; pass < 2; pass++) {
            Set<Long> seen = new HashSet<>();
            for (long[] l1 : l1Tables) {
                for (long l1Entry : l1) {
                    long l2Offset = l1Entry & Qcow2Image.OFFSET_MASK;
                    if (l2Offset == 0 || !seen.add(l2Offset)) {
                        continue;
                    }
                    long[] l2 = image.readL2(l2Offset);
                    for (int i = 0; i < l2.length; i++) {
                        long entry = l2[i];
                        if ((entry & Qcow2Image.ZERO) == 0 || (entry & Qcow2Image.COMPRESSED) != 0) {
                            continue;
                        }
                        long host = entry & Qcow2Image.OFFSET_MASK;
                        if (host == 0 ? backing : image.refcounts.get(host >>> image.clusterBits) != 1) {
                            throw new ImageException("Downgrading to compat=0.10 is not supported yet for zero clusters "
                                    + (host == 0 ? "over a backing file" : "shared with a snapshot"));
                        }
                        if (pass == 1) {
                            if (host != 0) {
                                Qcow2Io.writeFully(image.file, ByteBuffer.allocate(image.clusterSize), host);
                                image.barrier();
                            }
                            l2[i] = host == 0 ? 0 : host | Qcow2Image.COPIED;
                            image.writeL2Entries(l2Offset, l2, i, i + 1);
                        }
                    }
                }
            }
        }
        image.barrier();
    }

    private static ByteBuffer withLazyRefcounts(Qcow2File image, boolean lazy) throws IOException {
        ByteBuffer first = ByteBuffer.allocate(image.header.headerLength);
        Qcow2Io.readFully(image.file, first, 0);
        long compatible = image.header.compatibleFeatures;
        compatible = lazy ? compatible | Qcow2Header.COMPAT_LAZY_REFCOUNTS : compatible & ~Qcow2Header.COMPAT_LAZY_REFCOUNTS;
        first.putLong(80, compatible);
        first.clear();
        return first;
    }

    /**
     * The header as the new version lays it out: bytes 0..71 as they are, the version 3 fields
     * (no incompatible or autoclear features, 16-bit refcounts, zlib) when upgrading, then the
     * backing format and any other extension kept, the end marker and the backing file name.
     * Everything the old header used beyond is cleared so nothing stale lingers.
     */
    private static ByteBuffer rebuild(Qcow2File image, int version, boolean lazy) throws IOException {
        Qcow2Header header = image.header;
        int clusterSize = image.clusterSize;
        ByteBuffer old = ByteBuffer.allocate((int) Math.min(clusterSize, image.file.size()));
        Qcow2Io.readFully(image.file, old, 0);
        ByteBuffer b = ByteBuffer.allocate(clusterSize);
        b.put(0, old, 0, Qcow2Header.V2_HEADER_LENGTH);
        b.putInt(4, version);
        int at = Qcow2Header.V2_HEADER_LENGTH;
        if (version == 3) {
            b.putLong(72, 0);
            b.putLong(80, lazy ? Qcow2Header.COMPAT_LAZY_REFCOUNTS : 0);
            b.putLong(88, 0);
            b.putInt(96, 4);
            b.putInt(100, Qcow2Header.V3_HEADER_LENGTH);
            at = Qcow2Header.V3_HEADER_LENGTH;
        }
        if (header.backingFormat != null) {
            at = putExtension(b, at, Qcow2Header.EXT_BACKING_FORMAT, header.backingFormat.getBytes(StandardCharsets.UTF_8));
        }
        for (Qcow2Header.Extension extension : header.otherExtensions) {
            at = putExtension(b, at, extension.type(), extension.data());
        }
        at = putExtension(b, at, Qcow2Header.EXT_END, new byte[0]);
        if (header.backingFile != null) {
            byte[] name = header.backingFile.getBytes(StandardCharsets.UTF_8);
            if (at + name.length > clusterSize) {
                throw noSpace();
            }
            b.put(at, name);
            b.putLong(8, at);
            b.putInt(16, name.length);
            at += name.length;
        } else {
            b.putLong(8, 0);
            b.putInt(16, 0);
        }
        int oldEnd = header.backingFileOffset > 0 ? (int) Math.min(old.capacity(), header.backingFileOffset + header.backingFileSize)
                : endOfExtensions(old, header);
        b.limit(Math.max(at, oldEnd));
        return b;
    }

    private static int putExtension(ByteBuffer b, int at, int type, byte[] data) throws ImageException {
        int padded = (data.length + 7) & ~7;
        if (at + 8 + padded > b.capacity()) {
            throw noSpace();
        }
        b.putInt(at, type);
        b.putInt(at + 4, data.length);
        b.put(at + 8, data);
        return at + 8 + padded;
    }

    private static int endOfExtensions(ByteBuffer b, Qcow2Header header) {
        int at = header.version == 2 ? Qcow2Header.V2_HEADER_LENGTH : header.headerLength;
        while (at + 8 <= b.capacity()) {
            int type = b.getInt(at);
            int length = b.getInt(at + 4);
            if (type == Qcow2Header.EXT_END || length < 0 || length > b.capacity() - at - 8) {
                return Math.min(b.capacity(), at + 8);
            }
            at += 8 + ((length + 7) & ~7);
        }
        return b.capacity();
    }

    private static ImageException noSpace() {
        return new ImageException("Cannot amend the image: no space left in the file header");
    }
}
