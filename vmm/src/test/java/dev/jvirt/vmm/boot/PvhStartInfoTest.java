package dev.jvirt.vmm.boot;

import dev.jvirt.memory.E820Map;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.memory.MemoryBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A vmlinux with the PVH note, loaded as jvirt-vmm does: the hvm_start_info it gets, byte for byte. */
class PvhStartInfoTest {

    private static final long PVH_ENTRY = TinyElf.LOAD_ADDRESS + 0x10;
    private static final long RSDP = 0xE0000;

    @TempDir
    Path dir;

    private Path kernel() throws Exception {
        Path file = dir.resolve("vmlinux");
        Files.write(file, TinyElf.build(new byte[0x20], TinyElf.pvhNote(PVH_ENTRY, 8), 4));
        return file;
    }

    private static E820Map e820(GuestMemory memory) {
        return new E820Map()
                .add(BootLayout.HIGH_MEMORY, memory.lowRamEnd() - BootLayout.HIGH_MEMORY, E820Map.RAM)
                .add(0, BootLayout.EBDA, E820Map.RAM)
                .add(BootLayout.EBDA, BootLayout.HIGH_MEMORY - BootLayout.EBDA, E820Map.RESERVED);
    }

    @Test
    void startInfoDescribesCommandLineInitrdMemoryMapAndRsdp() throws Exception {
        byte[] initrdBytes = new byte[300_000];
        Arrays.fill(initrdBytes, (byte) 0x5A);
        Path initrd = dir.resolve("initrd");
        Files.write(initrd, initrdBytes);
        try (GuestMemory memory = GuestMemory.allocate(64 << 20, MemoryBackend.anonymous())) {
            memory.fill(BootLayout.PVH_START_INFO, 0x1000, (byte) 0xEE); // whatever was there before
            E820Map e820 = e820(memory);
            KernelEntry entry = LinuxLoader.load(memory, kernel(), initrd, "console=ttyS0 pvh", e820, RSDP);

            assertEquals(KernelEntry.Protocol.PVH, entry.protocol());
            assertEquals(PVH_ENTRY, entry.entryPoint());
            long info = entry.bootParams();
            assertEquals(BootLayout.PVH_START_INFO, info);
            assertEquals(0x336EC578, memory.readInt(info), "magic");
            assertEquals(1, memory.readInt(info + 4), "version");
            assertEquals(0, memory.readInt(info + 8), "flags");
            assertEquals(1, memory.readInt(info + 12), "nr_modules");
            long modlist = memory.readLong(info + 16);
            long cmdline = memory.readLong(info + 24);
            assertEquals(RSDP, memory.readLong(info + 32), "rsdp_paddr");
            long memmap = memory.readLong(info + 40);
            assertEquals(3, memory.readInt(info + 48), "memmap_entries");
            assertEquals(0, memory.readInt(info + 52), "reserved");

            assertEquals("console=ttyS0 pvh", new String(memory.read(cmdline, 17), StandardCharsets.US_ASCII));
            assertEquals(0, memory.readU8(cmdline + 17), "command line NUL-terminated");

            long initrdAddress = memory.readLong(modlist);
            assertEquals(300_000, memory.readLong(modlist + 8), "module size");
            assertEquals(0, memory.readLong(modlist + 16), "module cmdline_paddr");
            assertEquals(0, memory.readLong(modlist + 24), "module reserved");
            assertEquals(0, initrdAddress % 4096, "initrd page aligned");
            assertTrue(initrdAddress >= TinyElf.LOAD_ADDRESS + 0x1020, "initrd above the kernel");
            assertTrue(initrdAddress + 300_000 <= 64 << 20, "initrd in RAM");
            assertArrayEquals(initrdBytes, memory.read(initrdAddress, 300_000));

            List<E820Map.Entry> expected = e820.entries();
            for (int i = 0; i < expected.size(); i++) {
                long slot = memmap + 24L * i;
                assertEquals(expected.get(i), new E820Map.Entry(memory.readLong(slot), memory.readLong(slot + 8),
                        memory.readInt(slot + 16)), "memmap entry " + i);
                assertEquals(0, memory.readInt(slot + 20), "memmap entry " + i + " reserved");
            }
            assertEquals(0, expected.getFirst().address(), "sorted as the e820 map is");

            // Module list and map lie after the 56-byte structure, inside the page BootLayout gives them.
            assertTrue(modlist >= info + 56 && modlist + 32 <= memmap);
            assertTrue(memmap + 24L * expected.size() <= BootLayout.PVH_START_INFO_END);
            assertTrue(BootLayout.PVH_START_INFO_END <= BootLayout.ZERO_PAGE);
        }
    }

    @Test
    void withoutInitrdThereAreNoModules() throws Exception {
        try (GuestMemory memory = GuestMemory.allocate(16 << 20, MemoryBackend.anonymous())) {
            memory.fill(BootLayout.PVH_START_INFO, 0x1000, (byte) 0xEE);
            KernelEntry entry = LinuxLoader.load(memory, kernel(), null, "", e820(memory), 0);
            long info = entry.bootParams();
            assertEquals(0, memory.readInt(info + 12), "nr_modules");
            assertEquals(0, memory.readLong(info + 16), "modlist_paddr");
            assertEquals(0, memory.readLong(info + 32), "no RSDP");
            assertEquals(0, memory.readU8(memory.readLong(info + 24)), "empty command line");
        }
    }

    @Test
    void initrdBeyondRamIsReportedAsForTheZeroPagePath() throws Exception {
        Path initrd = dir.resolve("big-initrd");
        Files.write(initrd, new byte[15 << 20]);
        try (GuestMemory memory = GuestMemory.allocate(16 << 20, MemoryBackend.anonymous())) {
            assertEquals("-m 16 MiB is too small for the kernel and a 15 MiB initrd", assertThrows(BootException.class,
                    () -> LinuxLoader.load(memory, kernel(), initrd, "", e820(memory), 0)).getMessage());
        }
    }

    @Test
    void aMemoryMapTooLargeForItsPageIsOurBug() throws Exception {
        E820Map huge = new E820Map();
        for (int i = 0; i < 200; i++) {
            huge.add(0x100000L * (i + 1), 0x1000, E820Map.RAM);
        }
        try (GuestMemory memory = GuestMemory.allocate(16 << 20, MemoryBackend.anonymous())) {
            assertThrows(IllegalStateException.class, () -> PvhStartInfo.write(memory, 0, 0, 0, huge, 0));
        }
    }

    @Test
    void elfWithoutPvhNoteStillGetsTheZeroPage() throws Exception {
        Path plain = dir.resolve("plain");
        Files.write(plain, TinyElf.withoutNotes(new byte[0x20]));
        try (GuestMemory memory = GuestMemory.allocate(16 << 20, MemoryBackend.anonymous())) {
            KernelEntry entry = LinuxLoader.load(memory, plain, null, "quiet", e820(memory), RSDP);
            assertEquals(KernelEntry.Protocol.LINUX_64, entry.protocol());
            assertEquals(TinyElf.LOAD_ADDRESS, entry.entryPoint());
            assertEquals(BootLayout.ZERO_PAGE, entry.bootParams());
            assertEquals(0x53726448, memory.readInt(BootLayout.ZERO_PAGE + 0x202), "minimal setup header");
            assertEquals(3, memory.readU8(BootLayout.ZERO_PAGE + 0x1E8), "e820 entries");
            assertEquals(RSDP, memory.readLong(BootLayout.ZERO_PAGE + 0x70), "acpi_rsdp_addr");
        }
    }
}
