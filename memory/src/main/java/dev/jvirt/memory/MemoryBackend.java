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

    /** The x86 huge page size that anonymous guest RAM is aligned to. */
    static final long HUGE_PAGE = 2L << 20;

    public static MemoryBackend anonymous() {
        return new MemoryBackend(null, false);
    }

    /** Allocates {@code size} bytes of zeroed host memory for guest RAM. */
    MemorySegment allocate(long size) throws NativeException, IOException {
        MemorySegment memory;
        if (memPath == null) {
            memory = anonymousHugePageAligned(size);
        } else {
            memory = mapFileIn(memPath, size);
        }
        if (mergeable) {
            Libc.madvise(memory, Libc.MADV_MERGEABLE);
        }
        return memory;
    }

    /**
     * Anonymous memory that starts on a 2 MiB boundary and asks for transparent huge pages, as
     * QEMU does for guest RAM. KVM can only map a guest 2 MiB page with one huge page-table entry
     * when guest-physical and host-virtual addresses agree modulo 2 MiB; otherwise every 4 KiB the
     * guest touches first costs its own nested page fault, which in a nested setup dominates boot.
     */
    private static MemorySegment anonymousHugePageAligned(long size) throws NativeException {
        // NORESERVE: pages are only committed when the guest touches them.
        MemorySegment mapping = Libc.mmap(size + HUGE_PAGE, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        long head = -mapping.address() & (HUGE_PAGE - 1);
        if (head > 0) {
            Libc.munmap(mapping.asSlice(0, head));
        }
        long tail = HUGE_PAGE - head;
        Libc.munmap(mapping.asSlice(head + size, tail));
        MemorySegment memory = mapping.asSlice(head, size);
        try {
            Libc.madvise(memory, Libc.MADV_HUGEPAGE);
        } catch (NativeException e) {
            // A kernel without transparent huge pages: 4 KiB pages still work.
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
