package dev.jvirt.vmm.cpu;

import java.util.List;

/**
 * A named CPU model: which feature bits of the host's KVM-supported CPUID the guest may see.
 * {@code host} passes everything KVM supports; {@code qemu64} is the conservative x86-64
 * baseline QEMU users know, so a guest can migrate between unlike hosts.
 */
public record CpuModel(String name, List<String> features) {

    public static final CpuModel HOST = new CpuModel("host", null);

    /** QEMU's qemu64 feature set (target/i386/cpu.c, builtin_x86_defs), minus vendor and family quirks. */
    public static final CpuModel QEMU64 = new CpuModel("qemu64", List.of(
            "fpu", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov",
            "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2",
            "pni", "cx16", "hypervisor",
            "lahf_lm", "sse4a", "syscall", "nx", "lm"));

    /** A more useful baseline for modern hosts, close to x86-64-v2 (kvm64 plus SSE4.2 and POPCNT). */
    public static final CpuModel KVM64 = new CpuModel("kvm64", List.of(
            "fpu", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov",
            "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2",
            "pni", "ssse3", "cx16", "sse4.1", "sse4.2", "popcnt", "x2apic", "hypervisor",
            "lahf_lm", "syscall", "nx", "lm"));

    public static CpuModel named(String name) {
        return switch (name) {
            case "host", "max" -> HOST;
            case "qemu64" -> QEMU64;
            case "kvm64" -> KVM64;
            default -> null;
        };
    }

    public static List<String> names() {
        return List.of("host", "max", "qemu64", "kvm64");
    }
}
