package dev.jvirt.block.vmdk;

import dev.jvirt.block.ImageException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 512-byte header of a hosted sparse extent (VMware Virtual Disk Format 1.1, "SparseExtentHeader"),
 * little-endian after the "KDMV" magic. Offsets and sizes are in 512-byte sectors. A
 * streamOptimized writer cannot know where the grain directory will end up, so it writes
 * {@link #GD_AT_END} here and the real header again as a footer near the end of the file.
 */
record VmdkSparseHeader(int version, int flags, long capacity, long grainSize, long descriptorOffset, long descriptorSize,
                        int gtEntries, long gdOffset, long overhead, int compressAlgorithm) {

    static final int SIZE = 512;
    static final long GD_AT_END = 0xffff_ffff_ffff_ffffL;
    static final int FLAG_NEWLINE_DETECT = 1;
    static final int FLAG_ZERO_GRAIN = 1 << 2;
    static final int FLAG_MARKERS = 1 << 17;
    static final int COMPRESSION_NONE = 0;
    static final int COMPRESSION_DEFLATE = 1;
    /** 512 TiB: far beyond any VMware disk (62 TiB), small enough that byte sizes never overflow. */
    static final long MAX_CAPACITY = 1L << 40;
    /** QEMU's bound: a 1 GiB grain is already unrealistic (VMware writes 64 KiB). */
    static final long MAX_GRAIN_SECTORS = 1 << 21;
    /** Compressed grains are inflated into a buffer of the grain size, so they get a tighter bound. */
    static final long MAX_COMPRESSED_GRAIN_SECTORS = 1 << 15;

    static boolean hasMagic(byte[] bytes, int at) {
        return bytes.length >= at + 4 && bytes[at] == 'K' && bytes[at + 1] == 'D' && bytes[at + 2] == 'M' && bytes[at + 3] == 'V';
    }

    /** Parses the header (or footer) in {@code raw[at, at+512)}; only the fields' own ranges are checked here. */
    static VmdkSparseHeader parse(String name, byte[] raw, int at) throws ImageException {
        if (!hasMagic(raw, at)) {
            throw new ImageException(name + ": not a VMDK sparse extent (no \"KDMV\" magic)");
        }
        ByteBuffer b = ByteBuffer.wrap(raw, at, SIZE).slice().order(ByteOrder.LITTLE_ENDIAN);
        int version = b.getInt(4);
        if (version < 1 || version > 3) {
            throw new ImageException(name + ": Unsupported VMDK version " + Integer.toUnsignedLong(version));
        }
        int flags = b.getInt(8);
        // Four bytes of line endings a text-mode file transfer would mangle: a cheap check the spec asks for.
        if ((flags & FLAG_NEWLINE_DETECT) != 0
                && (b.get(73) != '\n' || b.get(74) != ' ' || b.get(75) != '\r' || b.get(76) != '\n')) {
            throw new ImageException(name + ": the VMDK newline check bytes are damaged (was the file copied in text mode?)");
        }
        long capacity = b.getLong(12);
        if (capacity < 0 || capacity > MAX_CAPACITY) {
            throw new ImageException("%s: VMDK capacity of %s sectors is absurd".formatted(name, Long.toUnsignedString(capacity)));
        }
        int compressAlgorithm = Short.toUnsignedInt(b.getShort(77));
        if (compressAlgorithm != COMPRESSION_NONE && compressAlgorithm != COMPRESSION_DEFLATE) {
            throw new ImageException(name + ": unsupported VMDK compression algorithm " + compressAlgorithm);
        }
        long grainSize = b.getLong(20);
        long maxGrain = compressAlgorithm == COMPRESSION_DEFLATE ? MAX_COMPRESSED_GRAIN_SECTORS : MAX_GRAIN_SECTORS;
        if (grainSize < 1 || grainSize > maxGrain || Long.bitCount(grainSize) != 1) {
            throw new ImageException("%s: invalid VMDK grain size of %s sectors (a power of two up to %d expected)"
                    .formatted(name, Long.toUnsignedString(grainSize), maxGrain));
        }
        int gtEntries = b.getInt(44);
        if (gtEntries < 1 || gtEntries > 512) {
            throw new ImageException("%s: VMDK grain tables of %d entries are not supported (1 to 512)"
                    .formatted(name, Integer.toUnsignedLong(gtEntries)));
        }
        return new VmdkSparseHeader(version, flags, capacity, grainSize, b.getLong(28), b.getLong(36), gtEntries,
                b.getLong(56), b.getLong(64), compressAlgorithm);
    }

    boolean compressed() {
        return compressAlgorithm == COMPRESSION_DEFLATE;
    }

    boolean hasMarkers() {
        return (flags & FLAG_MARKERS) != 0;
    }

    boolean hasZeroGrains() {
        return (flags & FLAG_ZERO_GRAIN) != 0;
    }

    long grainBytes() {
        return grainSize * 512;
    }

    /** Grain directory entries: one a grain table, enough tables to cover the capacity. */
    long gdEntries() {
        long perTable = grainSize * gtEntries;
        return (capacity + perTable - 1) / perTable;
    }
}
