package dev.jvirt.block.vmdk;

import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.ReadOnlyFile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A hosted sparse extent ("KDMV"): monolithicSparse, the extents of twoGbMaxExtentSparse, and
 * streamOptimized. The disk is cut into grains; a grain directory (GD) points to grain tables
 * (GT), whose entries give each grain's sector in the file: 0 is a grain never written, 1 (with
 * the zeroed-grain flag) a grain that reads as zeroes. In compressed extents a GT entry points to
 * a grain marker (the grain's LBA and the deflate stream's length) followed by the zlib stream.
 *
 * <p>The GD is read and checked when the extent opens; grain tables are read when first needed,
 * checked the same way, and kept in a small LRU cache.
 */
final class SparseExtent implements VmdkExtent {

    private static final int SECTOR = 512;
    private static final long UNALLOCATED = -1;
    private static final long ZEROED = -2;
    /**
     * QEMU's bound ("L1 size too big"): 32 M tables cover 8 TiB even with 512-byte grains. It
     * holds for all the extents of a disk together, so that a descriptor naming one large file
     * many times cannot multiply the memory its directories take.
     */
    static final long MAX_GD_ENTRIES = 32L << 20;
    private static final int MARKER_FOOTER = 3;
    private static final int MARKER_END_OF_STREAM = 0;
    private static final int GRAIN_MARKER_SIZE = 12;

    private final ReadOnlyFile file;
    private final String type;
    private final VmdkSparseHeader header;
    private final VmdkDescriptor embedded;
    private final int[] gd;
    private final long size;
    private final int grainBytes;
    private final GrainTables tables = new GrainTables();
    private final InflatedGrain lastInflated = new InflatedGrain();

    private SparseExtent(ReadOnlyFile file, String type, VmdkSparseHeader header, VmdkDescriptor embedded, int[] gd) {
        this.file = file;
        this.type = type;
        this.header = header;
        this.embedded = embedded;
        this.gd = gd;
        this.size = header.capacity() * SECTOR;
        this.grainBytes = (int) header.grainBytes();
    }

    /**
     * Opens the sparse extent in {@code file} (which the extent then owns); {@code type} is how
     * qemu-img info names it: "" for an image that is its own extent, "SPARSE" from a descriptor.
     */
    static SparseExtent open(ReadOnlyFile file, String type, long maxGdEntries) throws IOException {
        String name = file.path().toString();
        if (file.size() < VmdkSparseHeader.SIZE) {
            throw new ImageException(name + ": file too small for a VMDK header (" + file.size() + " bytes)");
        }
        byte[] raw = new byte[VmdkSparseHeader.SIZE];
        file.readFully(0, raw, 0, raw.length, "VMDK header");
        VmdkSparseHeader header = VmdkSparseHeader.parse(name, raw, 0);
        if (header.gdOffset() == VmdkSparseHeader.GD_AT_END) {
            header = readFooter(file);
        }
        if (Long.compareUnsigned(header.overhead(), file.size() / SECTOR) > 0) {
            throw new ImageException("%s: File truncated, expecting at least %d bytes of metadata (the file has %d)"
                    .formatted(name, sectorsToBytes(header.overhead()), file.size()));
        }
        VmdkDescriptor embedded = readEmbeddedDescriptor(file, header);
        long entries = header.gdEntries();
        if (entries > maxGdEntries) {
            throw new ImageException("%s: VMDK grain directory of %d entries is too large (L1 size too big; %d left for this disk)"
                    .formatted(name, entries, maxGdEntries));
        }
        long gdAt = sectorsToBytes(header.gdOffset());
        file.checkInside(gdAt, entries * 4, "VMDK grain directory");
        ByteBuffer directory = file.read(gdAt, (int) entries * 4, ByteOrder.LITTLE_ENDIAN, "VMDK grain directory");
        int[] gd = new int[(int) entries];
        long tableBytes = header.gtEntries() * 4L;
        for (int i = 0; i < gd.length; i++) {
            gd[i] = directory.getInt(i * 4);
            if (gd[i] != 0) {
                file.checkInside(Integer.toUnsignedLong(gd[i]) * SECTOR, tableBytes, "VMDK grain table " + i);
            }
        }
        return new SparseExtent(file, type, header, embedded, gd);
    }

    /**
     * A streamOptimized writer puts the real header in a footer: the last three sectors are the
     * footer marker, the footer (a header with the true GD offset) and the end-of-stream marker.
     */
    private static VmdkSparseHeader readFooter(ReadOnlyFile file) throws IOException {
        String name = file.path().toString();
        long end = file.size() / SECTOR * SECTOR;
        if (end < VmdkSparseHeader.SIZE + 3 * SECTOR) {
            throw new ImageException(name + ": streamOptimized VMDK too small for its footer; is it truncated?");
        }
        byte[] tail = new byte[3 * SECTOR];
        file.readFully(end - tail.length, tail, 0, tail.length, "VMDK footer");
        ByteBuffer t = ByteBuffer.wrap(tail).order(ByteOrder.LITTLE_ENDIAN);
        boolean footerMarker = t.getInt(8) == 0 && t.getInt(12) == MARKER_FOOTER;
        boolean endOfStream = t.getLong(2 * SECTOR) == 0 && t.getInt(2 * SECTOR + 8) == 0 && t.getInt(2 * SECTOR + 12) == MARKER_END_OF_STREAM;
        if (!footerMarker || !endOfStream || !VmdkSparseHeader.hasMagic(tail, SECTOR)) {
            throw new ImageException(name + ": Invalid footer: the header says the grain directory is at the end, but the file does not end"
                    + " with footer and end-of-stream markers; is it truncated?");
        }
        VmdkSparseHeader footer = VmdkSparseHeader.parse(name, tail, SECTOR);
        if (footer.gdOffset() == VmdkSparseHeader.GD_AT_END) {
            throw new ImageException(name + ": Invalid footer: it does not say where the grain directory is either");
        }
        return footer;
    }

    private static VmdkDescriptor readEmbeddedDescriptor(ReadOnlyFile file, VmdkSparseHeader header) throws IOException {
        if (header.descriptorOffset() == 0 || header.descriptorSize() == 0) {
            return null;
        }
        if (Long.compareUnsigned(header.descriptorSize(), VmdkDescriptor.MAX_SIZE / SECTOR) > 0) {
            throw new ImageException("%s: embedded VMDK descriptor of %s sectors is too large"
                    .formatted(file.path(), Long.toUnsignedString(header.descriptorSize())));
        }
        long at = sectorsToBytes(header.descriptorOffset());
        int length = (int) header.descriptorSize() * SECTOR;
        file.checkInside(at, length, "embedded VMDK descriptor");
        byte[] text = new byte[length];
        file.readFully(at, text, 0, length, "embedded VMDK descriptor");
        return VmdkDescriptor.parse(file.path().toString(), text, length, false);
    }

    /** Sector numbers from the file are unsigned; anything past the largest offset becomes "beyond the end". */
    private static long sectorsToBytes(long sectors) {
        return Long.compareUnsigned(sectors, Long.MAX_VALUE / SECTOR) > 0 ? Long.MAX_VALUE : sectors * SECTOR;
    }

    int gdEntries() {
        return gd.length;
    }

    VmdkDescriptor embeddedDescriptor() {
        return embedded;
    }

    boolean compressed() {
        return header.compressed();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public VmdkImage.ExtentInfo info() {
        return new VmdkImage.ExtentInfo(file.path().toString(), type, size, grainBytes, header.compressed());
    }

    @Override
    public void check(long firstSector, java.util.List<String> errors) throws IOException {
        long grains = (size + grainBytes - 1) / grainBytes;
        for (long grain = 0; grain < grains; grain++) {
            if (gd[(int) (grain / header.gtEntries())] == 0) {
                grain += header.gtEntries() - 1 - grain % header.gtEntries();
                continue;
            }
            long entry = grainEntry(grain);
            if (entry >= 0 && entry * SECTOR >= file.size()) {
                errors.add("ERROR: cluster offset for sector %d points after EOF".formatted(firstSector + grain * header.grainSize()));
            }
        }
    }

    /** The grain's sector in the file, or {@link #UNALLOCATED} or {@link #ZEROED}. */
    private long grainEntry(long grain) throws IOException {
        int directoryIndex = (int) (grain / header.gtEntries());
        if (gd[directoryIndex] == 0) {
            return UNALLOCATED;
        }
        int[] table = tables.get(gd[directoryIndex]);
        long entry = Integer.toUnsignedLong(table[(int) (grain % header.gtEntries())]);
        if (entry == 0) {
            return UNALLOCATED;
        }
        if (entry == 1 && header.hasZeroGrains()) {
            return ZEROED;
        }
        return entry;
    }

    /**
     * Joins neighbouring grains of one kind: never written, zeroed, compressed, or stored plainly
     * one after the other in the file (so a whole run is one read).
     */
    @Override
    public BlockStatus blockStatus(long position, long length) throws IOException {
        long request = Math.min(length, size - position);
        long grain = position / grainBytes;
        long inGrain = position % grainBytes;
        long entry = grainEntry(grain);
        long hostOffset = entry >= 0 && !header.compressed() ? entry * SECTOR + inGrain : -1;
        long run = Math.min(request, grainBytes - inGrain);
        while (run < request) {
            long nextGrain = (position + run) / grainBytes;
            if (entry == UNALLOCATED && gd[(int) (nextGrain / header.gtEntries())] == 0 && nextGrain % header.gtEntries() == 0) {
                // A whole table never allocated: skip it in one step.
                run = Math.min(request, run + (long) header.gtEntries() * grainBytes);
                continue;
            }
            long next = grainEntry(nextGrain);
            boolean sameKind = entry < 0 ? next == entry : next >= 0 && (hostOffset < 0 || next * SECTOR == hostOffset + run);
            if (!sameKind) {
                break;
            }
            run = Math.min(request, run + grainBytes);
        }
        if (entry == UNALLOCATED) {
            return new BlockStatus(run, false, true, false, 0, -1);
        }
        if (entry == ZEROED) {
            return new BlockStatus(run, false, true, true, 0, -1);
        }
        return new BlockStatus(run, true, false, true, 0, hostOffset);
    }

    @Override
    public void read(long position, byte[] buffer, int offset, int length) throws IOException {
        while (length > 0) {
            BlockStatus run = blockStatus(position, length);
            int piece = (int) run.length();
            if (!run.data()) {
                java.util.Arrays.fill(buffer, offset, offset + piece, (byte) 0);
            } else if (run.hostOffset() >= 0) {
                file.readFully(run.hostOffset(), buffer, offset, piece, "VMDK grain");
            } else {
                piece = (int) Math.min(piece, grainBytes - position % grainBytes);
                readCompressed(position, buffer, offset, piece);
            }
            position += piece;
            offset += piece;
            length -= piece;
        }
    }

    private void readCompressed(long position, byte[] buffer, int offset, int length) throws IOException {
        long grain = position / grainBytes;
        int inGrain = (int) (position % grainBytes);
        byte[] data = lastInflated.get(grain);
        if (data == null) {
            data = inflate(grain, grainEntry(grain) * SECTOR);
            lastInflated.put(grain, data);
        }
        System.arraycopy(data, inGrain, buffer, offset, length);
    }

    /**
     * Inflates the grain whose compressed form starts at {@code at}. The output buffer is one
     * grain, so a hostile stream can never make us allocate more; like QEMU's uncompress(), the
     * stream must end within it.
     */
    private byte[] inflate(long grain, long at) throws IOException {
        String name = file.path().toString();
        long maxCompressed = 2L * grainBytes + SECTOR;
        byte[] compressed;
        if (header.hasMarkers()) {
            ByteBuffer marker = file.read(at, GRAIN_MARKER_SIZE, ByteOrder.LITTLE_ENDIAN, "VMDK grain marker");
            long lba = marker.getLong(0);
            long length = Integer.toUnsignedLong(marker.getInt(8));
            if (lba != grain * header.grainSize()) {
                throw new ImageException("%s: grain marker at 0x%x is for sector %s, the grain table put sector %d there"
                        .formatted(name, at, Long.toUnsignedString(lba), grain * header.grainSize()));
            }
            if (length == 0 || length > maxCompressed) {
                throw new ImageException("%s: compressed grain at 0x%x claims %d bytes (at most %d expected)".formatted(name, at, length, maxCompressed));
            }
            file.checkInside(at + GRAIN_MARKER_SIZE, length, "compressed VMDK grain");
            compressed = new byte[(int) length];
            file.readFully(at + GRAIN_MARKER_SIZE, compressed, 0, compressed.length, "compressed VMDK grain");
        } else {
            file.checkInside(at, 1, "compressed VMDK grain");
            compressed = new byte[(int) Math.min(maxCompressed, file.size() - at)];
            file.readFully(at, compressed, 0, compressed.length, "compressed VMDK grain");
        }
        byte[] data = new byte[grainBytes];
        Inflater inflater = new Inflater(); // zlib-wrapped, as VMware and QEMU's compress() write it
        try {
            inflater.setInput(compressed);
            int produced = 0;
            while (produced < data.length && !inflater.finished()) {
                int n = inflater.inflate(data, produced, data.length - produced);
                if (n == 0) {
                    break; // needs input it does not have, or a dictionary: never loop on a stuck stream
                }
                produced += n;
            }
            if (!inflater.finished()) {
                throw new ImageException("%s: compressed grain at 0x%x does not inflate to a complete grain of %d bytes"
                        .formatted(name, at, grainBytes));
            }
            long needed = Math.min(grainBytes, size - grain * grainBytes);
            if (produced < needed) {
                throw new ImageException("%s: compressed grain at 0x%x inflates to %d bytes, the disk needs %d there"
                        .formatted(name, at, produced, needed));
            }
            return data;
        } catch (DataFormatException e) {
            throw new ImageException("%s: compressed grain at 0x%x is corrupt (%s)".formatted(name, at, e.getMessage()));
        } finally {
            inflater.end();
        }
    }

    @Override
    public void close() throws IOException {
        file.close();
    }

    /** The most recently used grain tables, keyed by their sector; access is serialised. */
    private final class GrainTables {
        private static final int CAPACITY = 64;
        private final Map<Integer, int[]> cache = new LinkedHashMap<>(CAPACITY, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Integer, int[]> eldest) {
                return size() > CAPACITY;
            }
        };

        synchronized int[] get(int sector) throws IOException {
            int[] table = cache.get(sector);
            if (table == null) {
                ByteBuffer raw = file.read(Integer.toUnsignedLong(sector) * SECTOR, header.gtEntries() * 4, ByteOrder.LITTLE_ENDIAN,
                        "VMDK grain table");
                table = new int[header.gtEntries()];
                raw.asIntBuffer().get(table);
                cache.put(sector, table);
            }
            return table;
        }
    }

    /** The last grain inflated: small sequential reads would otherwise inflate each grain many times. */
    private static final class InflatedGrain {
        private long grain = -1;
        private byte[] data;

        synchronized byte[] get(long wanted) {
            return wanted == grain ? data : null;
        }

        synchronized void put(long newGrain, byte[] newData) {
            grain = newGrain;
            data = newData;
        }
    }
}
