package dev.jvirt.vmm.boot;

/** Where the boot vCPU starts: a 64-bit entry point and the boot_params address it gets in RSI. */
public record KernelEntry(long entryPoint, long bootParams) { }
