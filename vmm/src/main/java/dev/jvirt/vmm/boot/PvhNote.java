package dev.jvirt.vmm.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.OptionalLong;

/**
 * Finds the PVH entry a kernel advertises among the notes of one ELF PT_NOTE segment: name "Xen",
 * type XEN_ELFNOTE_PHYS32_ENTRY, descriptor the physical address of its 32-bit entry (Xen's
 * public/elfnote.h; Linux emits it from arch/x86/platform/pvh/head.S). Every size in a note comes
 * from the file, so each is checked against the segment before it is used.
 */
final class PvhNote {

    static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    private static final int HEADER_SIZE = 12; // namesz, descsz, type: the same in ELF32 and ELF64
    private static final byte[] XEN = {'X', 'e', 'n', 0};

    private PvhNote() {
    }

    /**
     * The entry of the first PVH note in the segment's {@code size} bytes at file offset
     * {@code offset} (which the caller has checked lie inside {@code image}), or empty.
     */
    static OptionalLong find(String where, byte[] image, int offset, int size, long segmentAlignment)
            throws BootException {
        // Linux and the gABI pad name and descriptor to 4 bytes; a segment aligned to 8 pads to 8,
        // as QEMU's and binutils' readers assume.
        int padding = segmentAlignment == 8 ? 8 : 4;
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        long end = (long) offset + size;
        OptionalLong entry = OptionalLong.empty();
        long note = offset;
        while (note < end) {
            String what = where + ": note at offset 0x" + Long.toHexString(note - offset);
            if (end - note < HEADER_SIZE) {
                throw new BootException(what + " is truncated: " + (end - note) + " bytes left for a 12-byte header");
            }
            long nameSize = Integer.toUnsignedLong(b.getInt((int) note));
            long descriptorSize = Integer.toUnsignedLong(b.getInt((int) note + 4));
            int type = b.getInt((int) note + 8);
            long name = note + HEADER_SIZE;
            if (nameSize > end - name) {
                throw new BootException(what + " has a name of " + nameSize + " bytes, past the segment's end");
            }
            long descriptor = name + pad(nameSize, padding);
            if (descriptor > end) {
                throw new BootException(what + " has its name's padding past the segment's end");
            }
            if (descriptorSize > end - descriptor) {
                throw new BootException(what + " has a descriptor of " + descriptorSize + " bytes, past the segment's end");
            }
            if (type == XEN_ELFNOTE_PHYS32_ENTRY && isXen(image, (int) name, nameSize) && entry.isEmpty()) {
                if (descriptorSize != 4 && descriptorSize != 8) {
                    throw new BootException(what + ": PVH entry note (Xen, type 18) has a " + descriptorSize
                            + "-byte descriptor; 4 or 8 bytes expected");
                }
                // A 32-bit address, though some kernels store it in 8 bytes: the low half is it.
                entry = OptionalLong.of(Integer.toUnsignedLong(b.getInt((int) descriptor)));
            }
            note = descriptor + pad(descriptorSize, padding);
        }
        return entry;
    }

    private static boolean isXen(byte[] image, int name, long nameSize) {
        if (nameSize != XEN.length) {
            return false;
        }
        for (int i = 0; i < XEN.length; i++) {
            if (image[name + i] != XEN[i]) {
                return false;
            }
        }
        return true;
    }

    private static long pad(long size, int padding) {
        return (size + padding - 1) & -padding;
    }
}
