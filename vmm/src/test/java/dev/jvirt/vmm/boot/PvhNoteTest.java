package dev.jvirt.vmm.boot;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.memory.MemoryBackend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.OptionalLong;

import static dev.jvirt.vmm.boot.TinyElf.concat;
import static dev.jvirt.vmm.boot.TinyElf.note;
import static dev.jvirt.vmm.boot.TinyElf.pvhNote;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PvhNoteTest {

    private static final byte[] CODE = {(byte) 0xF4, (byte) 0xEB, (byte) 0xFD}; // hlt; jmp hlt
    private static final long PVH_ENTRY = TinyElf.LOAD_ADDRESS + 1;
    /** Notes a real vmlinux carries beside the PVH one. */
    private static final byte[] OTHER_NOTES = concat(
            note("Xen", 6, "linux\0".getBytes(), 4),
            note("GNU", 3, new byte[20], 4),
            note("Linux", 0x101, new byte[4], 4),
            note("GNU", 18, new byte[4], 4)); // type 18 under another name means something else

    private GuestMemory memory;

    @BeforeEach
    void allocate() throws Exception {
        memory = GuestMemory.allocate(4 << 20, MemoryBackend.anonymous());
    }

    @AfterEach
    void free() {
        memory.close();
    }

    private ElfKernel.Loaded load(byte[] elf) throws BootException {
        return ElfKernel.load("vmlinux", elf, memory);
    }

    @Test
    void fourByteDescriptorGivesTheEntry() throws Exception {
        byte[] elf = TinyElf.build(CODE, concat(OTHER_NOTES, pvhNote(PVH_ENTRY, 4)), 4);
        assertEquals(OptionalLong.of(PVH_ENTRY), load(elf).pvhEntry());
    }

    @Test
    void eightByteDescriptorGivesItsLow32Bits() throws Exception {
        byte[] elf = TinyElf.build(CODE, concat(pvhNote(0xFFFF_FFFF_0000_0000L | PVH_ENTRY, 8), OTHER_NOTES), 4);
        assertEquals(OptionalLong.of(PVH_ENTRY), load(elf).pvhEntry());
    }

    @Test
    void eightByteAlignedSegmentPadsToEight() throws Exception {
        byte[] notes = concat(note("Xen", 6, "linux\0".getBytes(), 8), note("Xen", 18, le32(PVH_ENTRY), 8));
        assertEquals(OptionalLong.of(PVH_ENTRY), load(TinyElf.build(CODE, notes, 8)).pvhEntry());
    }

    @Test
    void firstPvhNoteWins() throws Exception {
        byte[] elf = TinyElf.build(CODE, concat(pvhNote(PVH_ENTRY, 4), pvhNote(PVH_ENTRY + 1, 4)), 4);
        assertEquals(OptionalLong.of(PVH_ENTRY), load(elf).pvhEntry());
    }

    @Test
    void withoutThePvhNoteTheKernelKeepsItsElfEntry() throws Exception {
        ElfKernel.Loaded plain = load(TinyElf.withoutNotes(CODE));
        assertEquals(OptionalLong.empty(), plain.pvhEntry());
        assertEquals(TinyElf.LOAD_ADDRESS, plain.entry());
        assertEquals(TinyElf.LOAD_ADDRESS + CODE.length + 0x1000, plain.end());
        assertEquals(OptionalLong.empty(), load(TinyElf.build(CODE, OTHER_NOTES, 4)).pvhEntry());
        assertEquals(OptionalLong.empty(), load(TinyElf.build(CODE, new byte[0], 4)).pvhEntry(), "empty note segment");
    }

    @Test
    void entryOutsideRamIsRefused() {
        byte[] elf = TinyElf.build(CODE, pvhNote(0x4000_0000L, 4), 4);
        assertEquals("vmlinux: PVH entry point 0x40000000 is not in guest RAM",
                assertThrows(BootException.class, () -> load(elf)).getMessage());
    }

    @Test
    void malformedNotesAreRefusedSayingWhatIsWrong() {
        String where = "vmlinux: ELF note segment 1: note at offset 0x";
        assertRefused(where + "0 has a descriptor of 4 bytes, past the segment's end", truncate(pvhNote(PVH_ENTRY, 4), 18));
        assertRefused(where + "0 is truncated: 8 bytes left for a 12-byte header", truncate(pvhNote(PVH_ENTRY, 4), 8));
        byte[] followedByScraps = concat(pvhNote(PVH_ENTRY, 4), new byte[4]);
        assertRefused(where + "14 is truncated: 4 bytes left for a 12-byte header", followedByScraps);

        byte[] hugeName = pvhNote(PVH_ENTRY, 4);
        setInt(hugeName, 0, 0xFFFF_FFF0);
        assertRefused(where + "0 has a name of 4294967280 bytes, past the segment's end", hugeName);
        byte[] hugeDescriptor = pvhNote(PVH_ENTRY, 4);
        setInt(hugeDescriptor, 4, 0x7FFF_FFFF);
        assertRefused(where + "0 has a descriptor of 2147483647 bytes, past the segment's end", hugeDescriptor);
        byte[] nameToTheEnd = note("Xenon", 18, new byte[0], 4);
        setInt(nameToTheEnd, 0, 5); // "Xenon" fits, its padding does not
        assertRefused(where + "0 has its name's padding past the segment's end", truncate(nameToTheEnd, 17));

        for (int size : new int[] {0, 2, 6, 12, 16}) {
            byte[] notes = concat(OTHER_NOTES, note("Xen", 18, new byte[size], 4));
            assertRefused(where + Integer.toHexString(OTHER_NOTES.length) + ": PVH entry note (Xen, type 18) has a "
                    + size + "-byte descriptor; 4 or 8 bytes expected", notes);
        }
    }

    @Test
    void noteSegmentOutsideTheFileIsRefused() {
        byte[] elf = TinyElf.build(CODE, pvhNote(PVH_ENTRY, 4), 4);
        ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN).putLong(64 + 56 + 32, elf.length); // p_filesz
        assertEquals("vmlinux: ELF segment 1 lies outside the file",
                assertThrows(BootException.class, () -> load(elf)).getMessage());
        ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN).putLong(64 + 56 + 8, Long.MAX_VALUE)  // p_offset
                .putLong(64 + 56 + 32, Long.MAX_VALUE);
        assertEquals("vmlinux: ELF segment 1 lies outside the file",
                assertThrows(BootException.class, () -> load(elf)).getMessage());
    }

    /** Whatever a note segment's bytes, loading succeeds or fails with a BootException: never anything else. */
    @Test
    void corruptedNotesOnlyEverGiveBootExceptions() {
        byte[] notes = concat(OTHER_NOTES, pvhNote(PVH_ENTRY, 8));
        int[] values = {0x00, 0x01, 0x03, 0x7F, 0x80, 0xFF};
        for (int position = 0; position < notes.length; position++) {
            for (int value : values) {
                byte[] elf = TinyElf.build(CODE, notes, 4);
                elf[TinyElf.HEADERS + CODE.length + position] = (byte) value;
                try {
                    load(elf);
                } catch (BootException expected) {
                    // refused, with a message
                }
            }
        }
    }

    private void assertRefused(String message, byte[] notes) {
        byte[] elf = TinyElf.build(CODE, notes, 4);
        assertEquals(message, assertThrows(BootException.class, () -> load(elf)).getMessage());
    }

    private static byte[] truncate(byte[] bytes, int length) {
        return java.util.Arrays.copyOf(bytes, length);
    }

    private static void setInt(byte[] bytes, int offset, int value) {
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(offset, value);
    }

    private static byte[] le32(long value) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) value).array();
    }
}
