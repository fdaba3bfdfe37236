package dev.jvirt.vmm.boot;

/**
 * Where the boot structures live in guest-physical memory. All of it sits in the first MiB,
 * below the EBDA, in RAM the e820 map reports as usable (Linux reclaims it once booted).
 */
public final class BootLayout {

    /** Room for eight descriptors; the IDT follows it, so the two never overlap. */
    public static final long GDT = 0x500;
    public static final long IDT = 0x540;
    /**
     * PVH boot (no zero page): hvm_start_info, then its module list and memory map, all within
     * this page.
     */
    public static final long PVH_START_INFO = 0x6000;
    public static final long PVH_START_INFO_END = 0x7000;
    /** boot_params, the "zero page" of the Linux boot protocol. */
    public static final long ZERO_PAGE = 0x7000;
    public static final long BOOT_STACK = 0x8FF0;
    /** PML4, one PDPT and four page directories: an identity map of the first 4 GiB in 2 MiB pages. */
    public static final long PML4 = 0x9000;
    public static final long PDPT = 0xA000;
    public static final long PAGE_DIRECTORIES = 0xB000;
    public static final long COMMAND_LINE = 0x20000;
    public static final int COMMAND_LINE_MAX = 0x10000;
    /** Start of the EBDA; from here to 1 MiB is reserved (BIOS area, ACPI tables). */
    public static final long EBDA = 0x9FC00;
    /** Where ACPI tables go: the RSDP must be found by Linux's scan of 0xE0000-0xFFFFF. */
    public static final long ACPI_AREA = 0xE0000;
    public static final long HIGH_MEMORY = 0x100000;
    /** The protected-mode kernel is loaded at 1 MiB; its 64-bit entry point is 0x200 bytes in. */
    public static final long KERNEL_LOAD = HIGH_MEMORY;

    /** KVM's real-mode TSS and identity-map pages: in the MMIO hole, away from RAM and devices. */
    public static final long KVM_TSS = 0xFFFB_D000L;
    public static final long KVM_IDENTITY_MAP = 0xFFFB_C000L;

    private BootLayout() {
    }
}
