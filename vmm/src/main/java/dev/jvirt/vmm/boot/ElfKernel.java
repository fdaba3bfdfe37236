package dev.jvirt.vmm.boot;

import dev.jvirt.memory.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.OptionalLong;

/**
 * An uncompressed x86-64 vmlinux (ELF64). Its PT_LOAD segments are placed at their physical
 * addresses. A kernel with a PVH note in a PT_NOTE segment is entered there, in 32-bit mode (see
 * {@link Pvh32Setup}); otherwise the 64-bit entry is e_entry, which the kernel's linker script makes
 * physical, so the same zero-page boot as for a bzImage applies.
 */
final class ElfKernel {

    private static final int PT_LOAD = 1;
    private static final int PT_NOTE = 4;
    private static final int EM_X86_64 = 62;

    /**
     * @param entry    e_entry, the 64-bit entry
     * @param end      highest loaded address (exclusive)
     * @param pvhEntry the 32-bit PVH entry, when the kernel has the note
     */
    record Loaded(long entry, long end, OptionalLong pvhEntry) { }

    private ElfKernel() {
    }

    static boolean looksLikeElf(byte[] image) {
        return image.length >= 64 && image[0] == 0x7F && image[1] == 'E' && image[2] == 'L' && image[3] == 'F';
    }

    static Loaded load(String name, byte[] image, GuestMemory memory) throws BootException {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        if (image[4] != 2 || image[5] != 1) {
            throw new BootException(name + ": ELF file is not 64-bit little-endian");
        }
        if (Short.toUnsignedInt(b.getShort(18)) != EM_X86_64) {
            throw new BootException(name + ": ELF file is not for x86-64");
        }
        long programHeaders = b.getLong(32);
        int entrySize = Short.toUnsignedInt(b.getShort(54));
        int count = Short.toUnsignedInt(b.getShort(56));
        if (entrySize < 56 || !inside(image, programHeaders, (long) entrySize * count)) {
            throw new BootException(name + ": ELF program headers lie outside the file");
        }
        long end = 0;
        int loaded = 0;
        OptionalLong pvhEntry = OptionalLong.empty();
        for (int i = 0; i < count; i++) {
            int ph = (int) (programHeaders + (long) i * entrySize);
            int type = b.getInt(ph);
            if (type != PT_LOAD && type != PT_NOTE) {
                continue;
            }
            long offset = b.getLong(ph + 8);
            long physical = b.getLong(ph + 24);
            long fileSize = b.getLong(ph + 32);
            long memorySize = b.getLong(ph + 40);
            if (!inside(image, offset, fileSize)) {
                throw new BootException(name + ": ELF segment " + i + " lies outside the file");
            }
            if (type == PT_NOTE) {
                OptionalLong found = PvhNote.find(name + ": ELF note segment " + i, image, (int) offset, (int) fileSize,
                        b.getLong(ph + 48));
                pvhEntry = pvhEntry.isPresent() ? pvhEntry : found;
                continue;
            }
            if (fileSize > memorySize) {
                throw new BootException(name + ": ELF segment " + i + " has more bytes in the file than in memory");
            }
            if (physical < BootLayout.HIGH_MEMORY || !memory.isRam(physical, memorySize)) {
                throw new BootException(name + ": ELF segment " + i + " at 0x" + Long.toHexString(physical)
                        + " (+" + memorySize + " bytes) does not fit in guest RAM above 1 MiB (-m too small?)");
            }
            memory.write(physical, image, (int) offset, (int) fileSize);
            memory.fill(physical + fileSize, memorySize - fileSize, (byte) 0);
            end = Math.max(end, physical + memorySize);
            loaded++;
        }
        if (loaded == 0) {
            throw new BootException(name + ": ELF file has no loadable segments");
        }
        long entry = b.getLong(24);
        if (pvhEntry.isPresent()) {
            // e_entry is not used on this path; only the PVH entry must be real.
            if (!memory.isRam(pvhEntry.getAsLong(), 1)) {
                throw new BootException(name + ": PVH entry point 0x" + Long.toHexString(pvhEntry.getAsLong())
                        + " is not in guest RAM");
            }
        } else if (!memory.isRam(entry, 1)) {
            throw new BootException(name + ": ELF entry point 0x" + Long.toHexString(entry) + " is not a physical address in RAM");
        }
        return new Loaded(entry, end, pvhEntry);
    }

    /** Whether {@code length} bytes at {@code offset} lie in the file, without overflowing. */
    private static boolean inside(byte[] image, long offset, long length) {
        return offset >= 0 && length >= 0 && offset <= image.length && length <= image.length - offset;
    }
}
