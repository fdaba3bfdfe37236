package dev.jvirt.memory;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where guest RAM comes from: anonymous memory (the default), or files in a directory such as a
 * hugetlbfs mount ({@code -mem-path}). {@code mergeable} asks KSM to share identical pages
 * ({@code -machine mem-merge=on}).
 */
public record MemoryBackend(Path memPath, boolean mergeable) {

    public static MemoryBackend anonymous() {
        return new MemoryBackend(null, false);
    }

    /** Allocates {@code size} bytes of zeroed host memory for guest RAM. */
    MemorySegment allocate(long size) throws NativeException, IOException {
        MemorySegment memory;
        if (memPath == null) {
            // NORESERVE: pages are only committed when the guest touches them.
            memory = Libc.mmap(size, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        } else {
            memory = mapFileIn(memPath, size);
        }
        if (mergeable) {
            Libc.madvise(memory, Libc.MADV_MERGEABLE);
        }
        return memory;
    }

    /**
     * Maps an unlinked file from {@code directory}, as QEMU does for -mem-path: on hugetlbfs the
     * mapping is backed by huge pages; the file vanishes with the process.
     */
    private static MemorySegment mapFileIn(Path directory, long size) throws NativeException, IOException {
        if (!Files.isDirectory(directory)) {
            throw new IOException("-mem-path " + directory + ": not a directory");
        }
        Path file = Files.createTempFile(directory, "jvirt-ram-", ".mem");
        try {
            try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                raf.setLength(size);
            } catch (IOException e) {
                throw new IOException("-mem-path " + directory + ": cannot size a " + (size >> 20)
                        + " MiB file there (on hugetlbfs, -m must be a multiple of the huge page size and enough pages reserved): "
                        + e.getMessage(), e);
            }
            int fd = Libc.open(file.toString(), Libc.O_RDWR | Libc.O_CLOEXEC);
            try {
                return Libc.mmap(size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
            } finally {
                Libc.close(fd);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
