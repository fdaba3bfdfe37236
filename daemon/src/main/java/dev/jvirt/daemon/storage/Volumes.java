package dev.jvirt.daemon.storage;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Creator;
import dev.jvirt.block.qcow2.Qcow2Header;
import dev.jvirt.block.qcow2.Qcow2Image;
import dev.jvirt.block.raw.RawImage;
import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.state.ObjectException.Kind;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The volumes of directory pools: each regular file in the pool's directory. Volumes are
 * created, cloned and wiped through the {@code block} module (raw and qcow2), so images are made
 * exactly as jvirt-img makes them.
 */
public final class Volumes {

    /** virStorageVolResizeFlags. */
    public static final int RESIZE_DELTA = 2;
    public static final int RESIZE_SHRINK = 4;
    private static final int COPY_CHUNK = 1 << 20;

    private final StoragePools pools;

    public Volumes(StoragePools pools) {
        this.pools = pools;
    }

    public List<Volume> list(StoragePool pool) throws ObjectException, IOException {
        StoragePools.requireActive(pool);
        List<Volume> volumes = new ArrayList<>();
        try (var files = Files.list(pool.definition().target())) {
            for (Path file : files.sorted().toList()) {
                String name = file.getFileName().toString();
                if (!name.startsWith(".") && Files.isRegularFile(file)) {
                    volumes.add(inspect(pool, file, false));
                }
            }
        }
        return volumes;
    }

    public Volume byName(StoragePool pool, String name) throws ObjectException, IOException {
        StoragePools.requireActive(pool);
        Path file = volumePath(pool, name);
        if (!Files.isRegularFile(file)) {
            throw new ObjectException(Kind.NO_VOLUME, "Storage volume not found: no storage vol with matching name '" + name + "'");
        }
        return inspect(pool, file, true);
    }

    /** A volume by key or path (the same thing in a directory pool), searched in every active pool. */
    public Volume byPath(String path) throws ObjectException, IOException {
        Path file = Path.of(path).normalize();
        for (StoragePool pool : pools.all()) {
            if (pool.isActive() && pool.definition().target().equals(file.getParent()) && Files.isRegularFile(file)
                    && !file.getFileName().toString().startsWith(".")) {
                return inspect(pool, file, true);
            }
        }
        throw new ObjectException(Kind.NO_VOLUME, "Storage volume not found: no storage vol with matching path '" + path + "'");
    }

    public Volume create(StoragePool pool, VolumeSpec spec) throws ObjectException, IOException {
        synchronized (pool) {
            StoragePools.requireActive(pool);
            Path file = newVolumePath(pool, spec.name());
            String format = spec.format() != null ? spec.format() : spec.backingPath() != null ? "qcow2" : "raw";
            long capacity = spec.capacity();
            String backingFormat = null;
            if (spec.backingPath() != null) {
                if (!format.equals("qcow2")) {
                    throw new ObjectException(Kind.UNSUPPORTED, "backing storage is only supported for qcow2 volumes, not " + format);
                }
                Path backing = Path.of(spec.backingPath());
                if (!Files.isRegularFile(backing)) {
                    throw new ObjectException(Kind.FAILED, "backing store '" + backing + "' does not exist");
                }
                backingFormat = spec.backingFormat() != null ? spec.backingFormat() : Images.probe(backing);
                if (capacity < 0) {
                    try (BlockDriver source = Images.open(backing, OpenOptions.forReading().withFormat(backingFormat))) {
                        capacity = source.size();
                    }
                }
            }
            if (capacity < 0) {
                throw new ObjectException(Kind.XML, "XML error: missing capacity element for volume '" + spec.name() + "'");
            }
            make(file, format, capacity, spec.backingPath(), backingFormat);
            return inspect(pool, file, true);
        }
    }

    /** vol-clone: a new volume with the source's contents (flattened, as libvirt's qemu-img convert does). */
    public Volume cloneFrom(StoragePool pool, VolumeSpec spec, Volume source) throws ObjectException, IOException {
        synchronized (pool) {
            StoragePools.requireActive(pool);
            Path file = newVolumePath(pool, spec.name());
            String format = spec.format() != null ? spec.format() : source.format();
            long capacity = Math.max(spec.capacity(), source.capacity());
            make(file, format, capacity, null, null);
            try (BlockDriver from = Images.open(source.path(), OpenOptions.forReading().withFormat(source.format()));
                 BlockDriver to = Images.open(file, OpenOptions.forWriting().withFormat(format))) {
                copy(from, to);
                to.flush();
            } catch (IOException e) {
                Files.deleteIfExists(file);
                throw new ObjectException(Kind.FAILED, "cannot clone volume '" + source.name() + "': " + e.getMessage());
            }
            return inspect(pool, file, true);
        }
    }

    public void delete(Volume volume) throws IOException {
        Files.deleteIfExists(volume.path());
    }

    public void resize(Volume volume, long capacity, int flags) throws ObjectException, IOException {
        long target = capacity;
        if ((flags & RESIZE_DELTA) != 0) {
            target = (flags & RESIZE_SHRINK) != 0 ? volume.capacity() - Math.min(capacity, volume.capacity()) : volume.capacity() + capacity;
        }
        if (target < volume.capacity() && (flags & RESIZE_SHRINK) == 0) {
            throw new ObjectException(Kind.FAILED, "invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified");
        }
        if (!volume.format().equals("raw")) {
            throw new ObjectException(Kind.UNSUPPORTED, "resizing " + volume.format() + " volumes is not supported yet (raw volumes can be resized)");
        }
        try (RandomAccessFile file = new RandomAccessFile(volume.path().toFile(), "rw")) {
            file.setLength(target);
            file.getFD().sync();
        }
    }

    /** vol-wipe with the zero algorithm: every byte of the virtual disk reads as zero afterwards, the format stays valid. */
    public void wipe(Volume volume) throws IOException {
        try (BlockDriver disk = Images.open(volume.path(), OpenOptions.forWriting().withFormat(volume.format()))) {
            disk.writeZeroes(0, disk.size());
            disk.flush();
        }
    }

    /** The volume XML (formatstorage) that vol-dumpxml shows. */
    public String xml(Volume volume) {
        StringBuilder xml = new StringBuilder();
        xml.append("<volume type='file'>\n");
        xml.append("  <name>").append(escape(volume.name())).append("</name>\n");
        xml.append("  <key>").append(escape(volume.key())).append("</key>\n");
        xml.append("  <capacity unit='bytes'>").append(volume.capacity()).append("</capacity>\n");
        xml.append("  <allocation unit='bytes'>").append(volume.allocation()).append("</allocation>\n");
        xml.append("  <target>\n");
        xml.append("    <path>").append(escape(volume.key())).append("</path>\n");
        xml.append("    <format type='").append(volume.format()).append("'/>\n");
        xml.append("  </target>\n");
        if (volume.backingPath() != null) {
            xml.append("  <backingStore>\n");
            xml.append("    <path>").append(escape(volume.backingPath())).append("</path>\n");
            if (volume.backingFormat() != null) {
                xml.append("    <format type='").append(volume.backingFormat()).append("'/>\n");
            }
            xml.append("  </backingStore>\n");
        }
        return xml.append("</volume>\n").toString();
    }

    private static void make(Path file, String format, long capacity, String backingPath, String backingFormat) throws ObjectException, IOException {
        try {
            if (format.equals("raw")) {
                Files.createFile(file);
                RawImage.create(file, capacity);
            } else {
                Files.createFile(file);
                Qcow2Creator.create(file, new Qcow2Creator.Options(capacity, 65536, true, false, backingPath, backingFormat));
            }
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new ObjectException(Kind.VOLUME_EXISTS, "storage volume name '" + file.getFileName() + "' already in use");
        } catch (IOException e) {
            Files.deleteIfExists(file);
            throw new ObjectException(Kind.FAILED, "cannot create volume '" + file.getFileName() + "': " + e.getMessage());
        }
    }

    /** Copies only what reads as non-zero: the new image already reads zero everywhere, and stays sparse. */
    private static void copy(BlockDriver from, BlockDriver to) throws IOException {
        byte[] buffer = new byte[COPY_CHUNK];
        long size = from.size();
        for (long offset = 0; offset < size; ) {
            int length = (int) Math.min(COPY_CHUNK, size - offset);
            BlockStatus status = from.blockStatus(offset, length);
            if (status.zero() || !status.data() && status.length() > 0) {
                offset += status.length();
                continue;
            }
            from.read(offset, buffer, 0, length);
            if (!allZero(buffer, length)) {
                to.write(offset, buffer, 0, length);
            }
            offset += length;
        }
    }

    private static boolean allZero(byte[] buffer, int length) {
        for (int i = 0; i < length; i++) {
            if (buffer[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static Path volumePath(StoragePool pool, String name) throws ObjectException {
        if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..") || name.startsWith(".")) {
            throw new ObjectException(Kind.NO_VOLUME, "Storage volume not found: no storage vol with matching name '" + name + "'");
        }
        return pool.definition().target().resolve(name);
    }

    private static Path newVolumePath(StoragePool pool, String name) throws ObjectException {
        if (name.startsWith(".")) {
            throw new ObjectException(Kind.XML, "XML error: volume name '" + name + "' cannot start with '.'");
        }
        Path file = volumePath(pool, name);
        if (Files.exists(file)) {
            throw new ObjectException(Kind.VOLUME_EXISTS, "storage volume name '" + name + "' already in use");
        }
        return file;
    }

    /** A disk image anywhere on the host, probed as a pool's volume is (for virsh domblkinfo). */
    public static Volume inspectImage(Path file) throws IOException {
        return inspect(null, file, true);
    }

    /** What is on disk: the probed format, virtual size and backing file; unreadable images are reported as raw files. */
    private static Volume inspect(StoragePool pool, Path file, boolean withAllocation) throws IOException {
        long fileSize = Files.size(file);
        long allocation = withAllocation ? HostAllocation.of(file, fileSize) : fileSize;
        String format = "raw";
        long capacity = fileSize;
        String backingPath = null;
        String backingFormat = null;
        try {
            if (Images.probe(file).equals("qcow2")) {
                Qcow2Header header = Qcow2Image.readHeader(file);
                format = "qcow2";
                capacity = header.virtualSize();
                if (header.backingFile() != null) {
                    backingPath = Images.resolveBacking(file, header.backingFile()).toString();
                    backingFormat = header.backingFormat();
                }
            }
        } catch (IOException e) {
            format = "raw"; // not a valid qcow2 after all: what is there is a file of bytes
        }
        return new Volume(pool == null ? null : pool.name(), file.getFileName().toString(), file, format, capacity, allocation, backingPath, backingFormat);
    }

    /** Host blocks actually used by a (possibly sparse) file, from stat(1): Java's file attributes do not carry st_blocks. */
    static final class HostAllocation {

        private HostAllocation() {
        }

        static long of(Path file, long fallback) {
            try {
                Process stat = new ProcessBuilder("stat", "--format=%b %B", file.toString()).redirectErrorStream(true).start();
                String out = new String(stat.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
                if (!stat.waitFor(5, TimeUnit.SECONDS) || stat.exitValue() != 0) {
                    return fallback;
                }
                String[] fields = out.split(" ");
                return Long.parseLong(fields[0]) * Long.parseLong(fields[1]);
            } catch (IOException | NumberFormatException | ArrayIndexOutOfBoundsException e) {
                return fallback;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return fallback;
            }
        }
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;");
    }
}
