package dev.jvirt.vmm.boot;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Tiny ELF64 x86-64 "kernels" for boot tests: one PT_LOAD segment holding {@code code} at
 * {@link #LOAD_ADDRESS} (also e_entry), and optionally one PT_NOTE segment of raw note bytes.
 */
final class TinyElf {

    static final long LOAD_ADDRESS = 0x100000;
    static final int HEADERS = 64 + 2 * 56;

    private TinyElf() {
    }

    static byte[] withoutNotes(byte[] code) {
        return build(code, null, 4);
    }

    /** {@code notes} go into the file right after {@code code}, described by a PT_NOTE with p_align {@code align}. */
    static byte[] build(byte[] code, byte[] notes, long align) {
        int phnum = notes == null ? 1 : 2;
        int noteOffset = HEADERS + code.length;
        ByteBuffer b = ByteBuffer.allocate(noteOffset + (notes == null ? 0 : notes.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7F, 'E', 'L', 'F', 2, 1, 1, 0}).put(new byte[8]);
        b.putShort((short) 2).putShort((short) 62).putInt(1);      // ET_EXEC, x86-64, version
        b.putLong(LOAD_ADDRESS);                                    // e_entry
        b.putLong(64).putLong(0);                                   // e_phoff, e_shoff
        b.putInt(0).putShort((short) 64).putShort((short) 56);      // flags, ehsize, phentsize
        b.putShort((short) phnum).putShort((short) 64).putShort((short) 0).putShort((short) 0);
        b.putInt(1).putInt(7);                                      // PT_LOAD, RWX
        b.putLong(HEADERS).putLong(LOAD_ADDRESS).putLong(LOAD_ADDRESS);
        b.putLong(code.length).putLong(code.length + 0x1000L).putLong(0x1000);
        if (notes != null) {
            b.putInt(4).putInt(4);                                  // PT_NOTE, R
            b.putLong(noteOffset).putLong(0).putLong(0);
            b.putLong(notes.length).putLong(notes.length).putLong(align);
        } else {
            b.put(new byte[56]);
        }
        b.put(code);
        if (notes != null) {
            b.put(notes);
        }
        return b.array();
    }

    /** One note: header, NUL-terminated name and descriptor, each padded to {@code padding} bytes. */
    static byte[] note(String name, int type, byte[] descriptor, int padding) {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.US_ASCII);
        ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(nameBytes.length).putInt(descriptor.length).putInt(type);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(header.array());
        out.writeBytes(nameBytes);
        out.writeBytes(new byte[pad(nameBytes.length, padding) - nameBytes.length]);
        out.writeBytes(descriptor);
        out.writeBytes(new byte[pad(descriptor.length, padding) - descriptor.length]);
        return out.toByteArray();
    }

    static byte[] pvhNote(long entry, int descriptorSize) {
        ByteBuffer descriptor = ByteBuffer.allocate(descriptorSize).order(ByteOrder.LITTLE_ENDIAN);
        if (descriptorSize == 8) {
            descriptor.putLong(entry);
        } else {
            descriptor.putInt((int) entry);
        }
        return note("Xen", 18, descriptor.array(), 4);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    private static int pad(int size, int padding) {
        return (size + padding - 1) / padding * padding;
    }
}
