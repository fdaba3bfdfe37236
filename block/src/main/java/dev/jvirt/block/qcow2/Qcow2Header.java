package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The qcow2 header (QEMU docs/interop/qcow2.txt, "Header") and its extensions, parsed and
 * checked: every offset and size a hostile file could lie about is validated against the file
 * length and QEMU's own limits before anything is allocated or read through it.
 */
public final class Qcow2Header {

    public static final int MAGIC = 0x514649FB;
    static final int V2_HEADER_LENGTH = 72;
    static final int V3_HEADER_LENGTH = 112;

    static final long INCOMPAT_DIRTY = 1L;
    static final long INCOMPAT_CORRUPT = 1L << 1;
    static final long INCOMPAT_DATA_FILE = 1L << 2;
    static final long INCOMPAT_COMPRESSION = 1L << 3;
    static final long INCOMPAT_EXTL2 = 1L << 4;
    static final long COMPAT_LAZY_REFCOUNTS = 1L;

    static final int EXT_END = 0;
    static final int EXT_BACKING_FORMAT = 0xE2792ACA;
    static final int EXT_FEATURE_NAMES = 0x6803F857;

    /** QEMU's limits (block/qcow2.h): L1 at most 32 MiB, refcount table at most 8 MiB. */
    static final long MAX_L1_BYTES = 32L << 20;
    static final long MAX_REFTABLE_BYTES = 8L << 20;
    static final long MAX_VIRTUAL_SIZE = 1L << 61;

    /** A header extension we do not interpret, kept so a rewrite of the header preserves it. */
    public record Extension(int type, byte[] data) { }

    int version;
    long backingFileOffset;
    int backingFileSize;
    int clusterBits;
    long size;
    int cryptMethod;
    int l1Size;
    long l1TableOffset;
    long refcountTableOffset;
    int refcountTableClusters;
    int snapshotCount;
    long snapshotsOffset;
    long incompatibleFeatures;
    long compatibleFeatures;
    long autoclearFeatures;
    int refcountOrder = 4;
    int headerLength = V2_HEADER_LENGTH;
    int compressionType;
    String backingFile;
    String backingFormat;
    final List<Extension> otherExtensions = new ArrayList<>();

    public int clusterSize() {
        return 1 << clusterBits;
    }

    public int version() {
        return version;
    }

    public long virtualSize() {
        return size;
    }

    public String backingFile() {
        return backingFile;
    }

    public String backingFormat() {
        return backingFormat;
    }

    public int refcountBits() {
        return 1 << refcountOrder;
    }

    public boolean lazyRefcounts() {
        return (compatibleFeatures & COMPAT_LAZY_REFCOUNTS) != 0;
    }

    public boolean dirty() {
        return (incompatibleFeatures & INCOMPAT_DIRTY) != 0;
    }

    public boolean corrupt() {
        return (incompatibleFeatures & INCOMPAT_CORRUPT) != 0;
    }

    public int snapshotCount() {
        return snapshotCount;
    }

    public String compressionTypeName() {
        return compressionType == 1 ? "zstd" : "zlib";
    }

    int l2Entries() {
        return clusterSize() / 8;
    }

    /** Parses and validates the header from the file's first cluster (or less, if the file is short). */
    static Qcow2Header parse(String name, ByteBuffer b, long fileSize) throws ImageException {
        if (b.limit() < V2_HEADER_LENGTH || b.getInt(0) != MAGIC) {
            throw new ImageException(name + ": not a qcow2 image (bad magic)");
        }
        Qcow2Header h = new Qcow2Header();
        h.version = b.getInt(4);
        if (h.version != 2 && h.version != 3) {
            throw new ImageException(name + ": qcow2 version " + h.version + " is not supported (2 and 3 are)");
        }
        h.backingFileOffset = b.getLong(8);
        h.backingFileSize = b.getInt(16);
        h.clusterBits = b.getInt(20);
        if (h.clusterBits < 9 || h.clusterBits > 21) {
            throw new ImageException(name + ": cluster_bits " + h.clusterBits + " is out of range (9-21)");
        }
        h.size = b.getLong(24);
        if (h.size < 0 || h.size > MAX_VIRTUAL_SIZE) {
            throw new ImageException(name + ": virtual size " + Long.toUnsignedString(h.size) + " is too large");
        }
        h.cryptMethod = b.getInt(32);
        if (h.cryptMethod != 0) {
            throw new ImageException(name + ": encrypted qcow2 images are not supported (crypt_method " + h.cryptMethod + ")");
        }
        h.l1Size = b.getInt(36);
        h.l1TableOffset = b.getLong(40);
        h.refcountTableOffset = b.getLong(48);
        h.refcountTableClusters = b.getInt(56);
        h.snapshotCount = b.getInt(60);
        h.snapshotsOffset = b.getLong(64);
        if (h.version == 3) {
            if (b.limit() < 104) {
                throw new ImageException(name + ": truncated version 3 header");
            }
            h.incompatibleFeatures = b.getLong(72);
            h.compatibleFeatures = b.getLong(80);
            h.autoclearFeatures = b.getLong(88);
            h.refcountOrder = b.getInt(96);
            h.headerLength = b.getInt(100);
            if (h.headerLength < 104 || h.headerLength > h.clusterSize() || h.headerLength > b.limit()) {
                throw new ImageException(name + ": header_length " + h.headerLength + " is invalid");
            }
            if (h.headerLength > 104) {
                h.compressionType = Byte.toUnsignedInt(b.get(104));
            }
        }
        h.validate(name, fileSize);
        h.readExtensions(name, b);
        h.readBackingFileName(name, b);
        return h;
    }

    private void validate(String name, long fileSize) throws ImageException {
        long known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION;
        if ((incompatibleFeatures & INCOMPAT_DATA_FILE) != 0) {
            throw new ImageException(name + ": images with an external data file are not supported");
        }
        if ((incompatibleFeatures & INCOMPAT_EXTL2) != 0) {
            throw new ImageException(name + ": images with extended L2 entries (subclusters) are not supported yet");
        }
        if ((incompatibleFeatures & ~known) != 0) {
            throw new ImageException(name + ": unsupported incompatible features 0x" + Long.toHexString(incompatibleFeatures & ~known));
        }
        if ((incompatibleFeatures & INCOMPAT_COMPRESSION) != 0 ? compressionType > 1 : compressionType != 0) {
            throw new ImageException(name + ": unknown compression type " + compressionType);
        }
        if (refcountOrder < 0 || refcountOrder > 6) {
            throw new ImageException(name + ": refcount_order " + refcountOrder + " is out of range (0-6)");
        }
        long clusterSize = clusterSize();
        long neededL1 = divideRoundingUp(size, clusterSize * l2Entries());
        if (l1Size < 0 || l1Size < neededL1 || (long) l1Size * 8 > MAX_L1_BYTES) {
            throw new ImageException(name + ": L1 table size " + Integer.toUnsignedString(l1Size) + " does not fit the virtual size");
        }
        checkTable(name, "L1 table", l1TableOffset, (long) l1Size * 8, fileSize);
        if (refcountTableClusters <= 0 || (long) refcountTableClusters * clusterSize > MAX_REFTABLE_BYTES) {
            throw new ImageException(name + ": refcount table of " + Integer.toUnsignedString(refcountTableClusters) + " clusters is invalid");
        }
        checkTable(name, "refcount table", refcountTableOffset, (long) refcountTableClusters * clusterSize, fileSize);
        if (snapshotCount < 0 || snapshotCount > 65536) {
            throw new ImageException(name + ": snapshot count " + Integer.toUnsignedString(snapshotCount) + " is invalid");
        }
        if (snapshotCount > 0) {
            checkTable(name, "snapshot table", snapshotsOffset, 40L * snapshotCount, fileSize);
        }
    }

    private void checkTable(String name, String what, long offset, long length, long fileSize) throws ImageException {
        if (length == 0) {
            return;
        }
        if (offset <= 0 || (offset & (clusterSize() - 1)) != 0) {
            throw new ImageException(name + ": " + what + " offset 0x" + Long.toHexString(offset) + " is not cluster aligned or overlaps the header");
        }
        if (offset > fileSize || length > fileSize - offset) {
            throw new ImageException(name + ": " + what + " at 0x" + Long.toHexString(offset) + " extends past the end of the file");
        }
    }

    private void readExtensions(String name, ByteBuffer b) throws ImageException {
        int at = version == 2 ? V2_HEADER_LENGTH : headerLength;
        int end = backingFileOffset > 0 && backingFileOffset < b.limit() ? (int) backingFileOffset : b.limit();
        while (at + 8 <= end) {
            int type = b.getInt(at);
            int length = b.getInt(at + 4);
            if (type == EXT_END) {
                return;
            }
            if (length < 0 || length > end - at - 8) {
                throw new ImageException(name + ": header extension 0x" + Integer.toHexString(type) + " runs past the header");
            }
            byte[] data = new byte[length];
            b.get(at + 8, data);
            if (type == EXT_BACKING_FORMAT) {
                backingFormat = new String(data, StandardCharsets.UTF_8);
            } else if (type != EXT_FEATURE_NAMES) {
                otherExtensions.add(new Extension(type, data));
            }
            at += 8 + ((length + 7) & ~7);
        }
    }

    private void readBackingFileName(String name, ByteBuffer b) throws ImageException {
        if (backingFileOffset == 0) {
            return;
        }
        if (backingFileSize <= 0 || backingFileSize > 1023 || backingFileOffset < 0
                || backingFileOffset + backingFileSize > Math.min(b.limit(), clusterSize())) {
            throw new ImageException(name + ": backing file name at 0x" + Long.toHexString(backingFileOffset) + " is invalid");
        }
        byte[] bytes = new byte[backingFileSize];
        b.get((int) backingFileOffset, bytes);
        backingFile = new String(bytes, StandardCharsets.UTF_8);
    }

    static long divideRoundingUp(long value, long divisor) {
        return (value + divisor - 1) / divisor;
    }
}
