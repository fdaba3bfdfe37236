package dev.jvirt.vmm.boot;

import dev.jvirt.memory.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * An uncompressed x86-64 vmlinux (ELF64). Its PT_LOAD segments are placed at their physical
 * addresses and the 64-bit entry is e_entry, which the kernel's linker script makes physical,
 * so the same zero-page boot as for a bzImage applies.
 */
final class ElfKernel {

    private static final int PT_LOAD = 1;
    private static final int EM_X86_64 = 62;

    private ElfKernel() {
    }

    static boolean looksLikeElf(byte[] image) {
        return image.length >= 64 && image[0] == 0x7F && image[1] == 'E' && image[2] == 'L' && image[3] == 'F';
    }

    /** Loads the segments and returns {entry point, highest loaded address}. */
    static long[] load(String name, byte[] image, GuestMemory memory) throws BootException {
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
        if (entrySize < 56 || programHeaders < 0 || programHeaders + (long) entrySize * count > image.length) {
            throw new BootException(name + ": ELF program headers lie outside the file");
        }
        long end = 0;
        int loaded = 0;
        for (int i = 0; i < count; i++) {
            int ph = (int) (programHeaders + (long) i * entrySize);
            if (b.getInt(ph) != PT_LOAD) {
                continue;
            }
            long offset = b.getLong(ph + 8);
            long physical = b.getLong(ph + 24);
            long fileSize = b.getLong(ph + 32);
            long memorySize = b.getLong(ph + 40);
            if (offset < 0 || fileSize < 0 || fileSize > memorySize || offset + fileSize > image.length) {
                throw new BootException(name + ": ELF segment " + i + " lies outside the file");
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
        if (!memory.isRam(entry, 1)) {
            throw new BootException(name + ": ELF entry point 0x" + Long.toHexString(entry) + " is not a physical address in RAM");
        }
        return new long[] {entry, end};
    }
}
