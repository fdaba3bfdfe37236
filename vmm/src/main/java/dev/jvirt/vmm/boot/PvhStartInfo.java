package dev.jvirt.vmm.boot;

import dev.jvirt.memory.E820Map;
import dev.jvirt.memory.GuestMemory;

import java.util.List;

/**
 * Writes struct hvm_start_info (Xen public/arch-x86/hvm/start_info.h, version 1): what a PVH kernel
 * gets in EBX instead of boot_params. Version 1 carries the memory map itself, so the kernel never
 * asks a hypervisor for it (there is no Xen here to answer). The module list and the memory map
 * follow the structure in the same page, {@link BootLayout#PVH_START_INFO}.
 */
final class PvhStartInfo {

    static final int MAGIC = 0x336E_C578;
    static final int VERSION = 1;

    // struct hvm_start_info: 56 bytes.
    static final int MAGIC_OFFSET = 0x00;
    static final int VERSION_OFFSET = 0x04;
    static final int FLAGS = 0x08;
    static final int NR_MODULES = 0x0C;
    static final int MODLIST_PADDR = 0x10;
    static final int CMDLINE_PADDR = 0x18;
    static final int RSDP_PADDR = 0x20;
    static final int MEMMAP_PADDR = 0x28;
    static final int MEMMAP_ENTRIES = 0x30;
    static final int SIZE = 0x38;

    /** One struct hvm_modlist_entry {paddr, size, cmdline_paddr, reserved}: the initrd. */
    static final long MODULE_LIST = BootLayout.PVH_START_INFO + 0x40;
    static final int MODULE_ENTRY_SIZE = 32;
    /** struct hvm_memmap_table_entry {addr, size, type, reserved}; types are e820's. */
    static final long MEMORY_MAP = MODULE_LIST + MODULE_ENTRY_SIZE;
    static final int MEMORY_MAP_ENTRY_SIZE = 24;

    private PvhStartInfo() {
    }

    /**
     * Writes the structure, the initrd's module entry when {@code initrdSize > 0}, and {@code e820}
     * as the memory map; returns the structure's address.
     */
    static long write(GuestMemory memory, long commandLine, long initrdAddress, long initrdSize, E820Map e820,
                      long rsdpAddress) {
        List<E820Map.Entry> entries = e820.entries();
        long mapEnd = MEMORY_MAP + (long) MEMORY_MAP_ENTRY_SIZE * entries.size();
        if (mapEnd > BootLayout.PVH_START_INFO_END) {
            // The map is ours (a handful of entries), not the user's: more is a bug here.
            throw new IllegalStateException("too many memory map entries for the PVH start page: " + entries.size());
        }
        long base = BootLayout.PVH_START_INFO;
        memory.fill(base, BootLayout.PVH_START_INFO_END - base, (byte) 0);
        memory.writeInt(base + MAGIC_OFFSET, MAGIC);
        memory.writeInt(base + VERSION_OFFSET, VERSION);
        memory.writeInt(base + FLAGS, 0);
        memory.writeLong(base + CMDLINE_PADDR, commandLine);
        memory.writeLong(base + RSDP_PADDR, rsdpAddress);
        if (initrdSize > 0) {
            memory.writeInt(base + NR_MODULES, 1);
            memory.writeLong(base + MODLIST_PADDR, MODULE_LIST);
            memory.writeLong(MODULE_LIST, initrdAddress);
            memory.writeLong(MODULE_LIST + 8, initrdSize);
        }
        memory.writeLong(base + MEMMAP_PADDR, MEMORY_MAP);
        memory.writeInt(base + MEMMAP_ENTRIES, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            long slot = MEMORY_MAP + (long) MEMORY_MAP_ENTRY_SIZE * i;
            memory.writeLong(slot, entries.get(i).address());
            memory.writeLong(slot + 8, entries.get(i).size());
            memory.writeInt(slot + 16, entries.get(i).type());
        }
        return base;
    }
}
