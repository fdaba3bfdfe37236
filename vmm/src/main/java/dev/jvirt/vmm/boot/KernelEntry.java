package dev.jvirt.vmm.boot;

/**
 * Where the boot vCPU starts, and how.
 *
 * @param entryPoint the kernel's entry: 64-bit for {@link Protocol#LINUX_64}, 32-bit for {@link Protocol#PVH}
 * @param bootParams boot_params (in RSI) for LINUX_64, hvm_start_info (in EBX) for PVH
 */
public record KernelEntry(long entryPoint, long bootParams, Protocol protocol) {

    public enum Protocol {
        /** The Linux 64-bit boot protocol: long mode, identity-mapped, RSI = boot_params ({@link LongModeSetup}). */
        LINUX_64,
        /** Xen's PVH entry: 32-bit protected mode, paging off, EBX = hvm_start_info ({@link Pvh32Setup}). */
        PVH
    }
}
