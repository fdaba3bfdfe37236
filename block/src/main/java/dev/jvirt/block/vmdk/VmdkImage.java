package dev.jvirt.block.vmdk;

import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.CacheMode;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.ReadOnlyFile;
import dev.jvirt.block.ReadOnlyImage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A VMware VMDK disk, read-only: either a sparse extent file ("KDMV": monolithicSparse,
 * streamOptimized) that is the whole disk, or a text descriptor listing extents in other files
 * (monolithicFlat, twoGbMaxExtentFlat, twoGbMaxExtentSparse, vmfs). The extents are laid end to
 * end to make the virtual disk. Disks with a parent (snapshot deltas) are refused.
 */
public final class VmdkImage extends ReadOnlyImage {

    /** What qemu-img info lists for one extent (format-specific "extents"). */
    public record ExtentInfo(String filename, String format, long virtualSize, long clusterSize, boolean compressed) { }

    /** The create types QEMU opens from a descriptor file, less the extent kinds we do not read. */
    private static final Set<String> DESCRIPTOR_TYPES = Set.of("monolithicFlat", "twoGbMaxExtentFlat", "twoGbMaxExtentSparse", "vmfs");

    private final List<VmdkExtent> extents;
    /** Where each extent starts on the virtual disk. */
    private final long[] starts;
    private final String createType;
    private final long cid;
    private final long parentCid;

    private VmdkImage(List<VmdkExtent> extents, long size, String createType, long cid, long parentCid) {
        super("vmdk", size);
        this.extents = extents;
        this.starts = new long[extents.size()];
        long at = 0;
        for (int i = 0; i < starts.length; i++) {
            starts[i] = at;
            at += extents.get(i).size();
        }
        this.createType = createType;
        this.cid = cid;
        this.parentCid = parentCid;
    }

    /** Opens {@code path}, a sparse extent or a descriptor file, read-only. */
    public static VmdkImage open(Path path, CacheMode cache) throws IOException {
        ReadOnlyFile file = ReadOnlyFile.open(path, cache);
        try {
            byte[] head = new byte[4];
            file.readPadded(0, head, head.length);
            if (VmdkSparseHeader.hasMagic(head, 0)) {
                return openSparse(file);
            }
            if (head[0] == 'C' && head[1] == 'O' && head[2] == 'W' && head[3] == 'D') {
                throw new ImageException(path + ": VMDK version 3 (\"COWD\", ESX 2 / Workstation 3) sparse images are not supported");
            }
            try (file) {
                return openDescriptor(file, cache);
            }
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static VmdkImage openSparse(ReadOnlyFile file) throws IOException {
        SparseExtent extent = SparseExtent.open(file, "", SparseExtent.MAX_GD_ENTRIES);
        VmdkDescriptor embedded = extent.embeddedDescriptor();
        if (embedded != null) {
            refuseParent(file.path(), embedded);
        }
        // qemu-img names a sparse file's create type by its compression, not by the embedded text.
        String createType = extent.compressed() ? "streamOptimized" : "monolithicSparse";
        long cid = embedded == null ? 0 : embedded.cid();
        long parentCid = embedded == null ? VmdkDescriptor.NO_PARENT : embedded.parentCid();
        return new VmdkImage(List.of(extent), extent.size(), createType, cid, parentCid);
    }

    private static VmdkImage openDescriptor(ReadOnlyFile file, CacheMode cache) throws IOException {
        Path path = file.path();
        if (file.size() > VmdkDescriptor.MAX_SIZE) {
            throw new ImageException(path + ": not a VMDK image (no \"KDMV\" magic, and too large for a descriptor file)");
        }
        byte[] text = new byte[(int) file.size()];
        file.readFully(0, text, 0, text.length, "VMDK descriptor");
        VmdkDescriptor descriptor = VmdkDescriptor.parse(path.toString(), text, text.length, true);
        if (descriptor.createType() == null) {
            throw new ImageException(path + ": invalid VMDK image descriptor (no createType)");
        }
        if (!DESCRIPTOR_TYPES.contains(descriptor.createType())) {
            throw new ImageException(path + ": Unsupported image type '" + descriptor.createType() + "'");
        }
        refuseParent(path, descriptor);
        if (descriptor.extents().isEmpty()) {
            throw new ImageException(path + ": the VMDK descriptor lists no extents");
        }
        List<VmdkExtent> extents = new ArrayList<>();
        try {
            long size = 0;
            long gdEntriesLeft = SparseExtent.MAX_GD_ENTRIES;
            for (VmdkDescriptor.Extent line : descriptor.extents()) {
                VmdkExtent extent;
                try {
                    extent = openExtent(path, line, cache, gdEntriesLeft);
                } catch (ImageException e) {
                    // Name the descriptor the user gave, then what is wrong in which extent.
                    String label = line.fileName() != null ? "\"" + line.fileName() + "\"" : line.type();
                    throw new ImageException(path + ": extent " + label + ": " + e.getMessage());
                }
                extents.add(extent);
                if (extent instanceof SparseExtent sparse) {
                    gdEntriesLeft -= sparse.gdEntries();
                }
                if (extent.size() == 0) {
                    throw new ImageException(path + ": VMDK extent '" + line.fileName() + "' is empty");
                }
                size += extent.size();
                if (size > VmdkSparseHeader.MAX_CAPACITY * 512) {
                    throw new ImageException(path + ": the VMDK extents add up to an absurd size");
                }
            }
            return new VmdkImage(List.copyOf(extents), size, descriptor.createType(), descriptor.cid(), descriptor.parentCid());
        } catch (IOException | RuntimeException e) {
            for (VmdkExtent extent : extents) {
                extent.close();
            }
            throw e;
        }
    }

    private static VmdkExtent openExtent(Path descriptor, VmdkDescriptor.Extent line, CacheMode cache, long gdEntriesLeft)
            throws IOException {
        if (line.access().equals("NOACCESS")) {
            throw new ImageException("NOACCESS extents are not supported");
        }
        switch (line.type()) {
            case "FLAT", "VMFS" -> {
                ReadOnlyFile file = ReadOnlyFile.open(resolve(descriptor, line.fileName()), cache);
                try {
                    return FlatExtent.open(file, line.type(), line.offset(), line.sectors());
                } catch (IOException | RuntimeException e) {
                    file.close();
                    throw e;
                }
            }
            case "SPARSE" -> {
                ReadOnlyFile file = ReadOnlyFile.open(resolve(descriptor, line.fileName()), cache);
                try {
                    // Like QEMU, the extent's own header decides its size, not the descriptor line.
                    return SparseExtent.open(file, line.type(), gdEntriesLeft);
                } catch (IOException | RuntimeException e) {
                    file.close();
                    throw e;
                }
            }
            default -> throw new ImageException("Unsupported extent type '" + line.type() + "'");
        }
    }

    /** Extent names are relative to the descriptor's directory, as QEMU and VMware resolve them. */
    private static Path resolve(Path descriptor, String fileName) throws ImageException {
        Path name;
        try {
            name = Path.of(fileName);
        } catch (java.nio.file.InvalidPathException e) {
            throw new ImageException("invalid extent file name: " + e.getMessage());
        }
        if (name.isAbsolute()) {
            return name;
        }
        Path parent = descriptor.getParent();
        return parent == null ? name : parent.resolve(name);
    }

    private static void refuseParent(Path path, VmdkDescriptor descriptor) throws ImageException {
        if (descriptor.parentFileNameHint() != null) {
            throw new ImageException(path + ": VMDK images with a parent ('" + descriptor.parentFileNameHint()
                    + "') are not supported; convert the snapshot chain with its parent first");
        }
    }

    public String createType() {
        return createType;
    }

    public long cid() {
        return cid;
    }

    public long parentCid() {
        return parentCid;
    }

    public List<ExtentInfo> extentInfo() {
        return extents.stream().map(VmdkExtent::info).toList();
    }

    /** qemu-img check for VMDK: every allocated grain must start inside its file. Returns the errors found. */
    public List<String> check() throws IOException {
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < extents.size(); i++) {
            extents.get(i).check(starts[i] / 512, errors);
        }
        return errors;
    }

    @Override
    public long clusterSize() {
        // qemu-img shows a cluster size only when every extent is sparse with the same grain.
        long grain = extents.getFirst().info().clusterSize();
        for (VmdkExtent extent : extents) {
            if (extent.info().clusterSize() != grain) {
                return 0;
            }
        }
        return grain;
    }

    @Override
    public void read(long position, byte[] buffer, int offset, int length) throws IOException {
        checkRange(position, length);
        while (length > 0) {
            int index = extentAt(position);
            long inExtent = position - starts[index];
            int piece = (int) Math.min(length, extents.get(index).size() - inExtent);
            extents.get(index).read(inExtent, buffer, offset, piece);
            position += piece;
            offset += piece;
            length -= piece;
        }
    }

    @Override
    public BlockStatus blockStatus(long position, long length) throws IOException {
        long request = Math.min(length, size() - position);
        checkRange(position, request);
        int index = extentAt(position);
        long inExtent = position - starts[index];
        return extents.get(index).blockStatus(inExtent, Math.min(request, extents.get(index).size() - inExtent));
    }

    private int extentAt(long position) {
        int index = java.util.Arrays.binarySearch(starts, position);
        // Between starts: the extent before. Zero-sized extents cannot occur (sectors > 0 is checked).
        return index >= 0 ? index : -index - 2;
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (VmdkExtent extent : extents) {
            try {
                extent.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
