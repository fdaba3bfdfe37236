package dev.jvirt.vmm.cpu;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * CPU feature flags by QEMU's names (as in {@code -cpu qemu64,+avx2}), each a bit in one CPUID
 * register (kvmclock: two bits). Only features a user may reasonably toggle are listed.
 */
public record CpuFeature(String name, int leaf, int subleaf, Register register, int mask) {

    public enum Register { EAX, EBX, ECX, EDX }

    /** The CPUID leaf where KVM lists its paravirtual features. */
    public static final int KVM_FEATURES_LEAF = 0x4000_0001;

    private static final Map<String, CpuFeature> BY_NAME = new TreeMap<>();

    private static void define(String name, int leaf, int subleaf, Register register, int bit) {
        BY_NAME.put(name, new CpuFeature(name, leaf, subleaf, register, 1 << bit));
    }

    static {
        // Leaf 1 EDX
        define("fpu", 1, 0, Register.EDX, 0);
        define("vme", 1, 0, Register.EDX, 1);
        define("de", 1, 0, Register.EDX, 2);
        define("pse", 1, 0, Register.EDX, 3);
        define("tsc", 1, 0, Register.EDX, 4);
        define("msr", 1, 0, Register.EDX, 5);
        define("pae", 1, 0, Register.EDX, 6);
        define("mce", 1, 0, Register.EDX, 7);
        define("cx8", 1, 0, Register.EDX, 8);
        define("apic", 1, 0, Register.EDX, 9);
        define("sep", 1, 0, Register.EDX, 11);
        define("mtrr", 1, 0, Register.EDX, 12);
        define("pge", 1, 0, Register.EDX, 13);
        define("mca", 1, 0, Register.EDX, 14);
        define("cmov", 1, 0, Register.EDX, 15);
        define("pat", 1, 0, Register.EDX, 16);
        define("pse36", 1, 0, Register.EDX, 17);
        define("clflush", 1, 0, Register.EDX, 19);
        define("mmx", 1, 0, Register.EDX, 23);
        define("fxsr", 1, 0, Register.EDX, 24);
        define("sse", 1, 0, Register.EDX, 25);
        define("sse2", 1, 0, Register.EDX, 26);
        define("ht", 1, 0, Register.EDX, 28);
        // Leaf 1 ECX
        define("pni", 1, 0, Register.ECX, 0);
        define("sse3", 1, 0, Register.ECX, 0);
        define("pclmulqdq", 1, 0, Register.ECX, 1);
        define("vmx", 1, 0, Register.ECX, 5);
        define("ssse3", 1, 0, Register.ECX, 9);
        define("fma", 1, 0, Register.ECX, 12);
        define("cx16", 1, 0, Register.ECX, 13);
        define("pcid", 1, 0, Register.ECX, 17);
        define("sse4.1", 1, 0, Register.ECX, 19);
        define("sse4_1", 1, 0, Register.ECX, 19);
        define("sse4.2", 1, 0, Register.ECX, 20);
        define("sse4_2", 1, 0, Register.ECX, 20);
        define("x2apic", 1, 0, Register.ECX, 21);
        define("movbe", 1, 0, Register.ECX, 22);
        define("popcnt", 1, 0, Register.ECX, 23);
        define("tsc-deadline", 1, 0, Register.ECX, 24);
        define("aes", 1, 0, Register.ECX, 25);
        define("xsave", 1, 0, Register.ECX, 26);
        define("avx", 1, 0, Register.ECX, 28);
        define("f16c", 1, 0, Register.ECX, 29);
        define("rdrand", 1, 0, Register.ECX, 30);
        define("hypervisor", 1, 0, Register.ECX, 31);
        // Leaf 7.0 EBX/ECX/EDX
        define("fsgsbase", 7, 0, Register.EBX, 0);
        define("bmi1", 7, 0, Register.EBX, 3);
        define("avx2", 7, 0, Register.EBX, 5);
        define("smep", 7, 0, Register.EBX, 7);
        define("bmi2", 7, 0, Register.EBX, 8);
        define("erms", 7, 0, Register.EBX, 9);
        define("invpcid", 7, 0, Register.EBX, 10);
        define("avx512f", 7, 0, Register.EBX, 16);
        define("rdseed", 7, 0, Register.EBX, 18);
        define("adx", 7, 0, Register.EBX, 19);
        define("smap", 7, 0, Register.EBX, 20);
        define("clflushopt", 7, 0, Register.EBX, 23);
        define("sha-ni", 7, 0, Register.EBX, 29);
        define("umip", 7, 0, Register.ECX, 2);
        define("pku", 7, 0, Register.ECX, 3);
        define("vaes", 7, 0, Register.ECX, 9);
        define("rdpid", 7, 0, Register.ECX, 22);
        define("md-clear", 7, 0, Register.EDX, 10);
        define("spec-ctrl", 7, 0, Register.EDX, 26);
        define("ssbd", 7, 0, Register.EDX, 31);
        // Leaf 0x80000001 ECX/EDX
        define("lahf_lm", 0x8000_0001, 0, Register.ECX, 0);
        define("lahf-lm", 0x8000_0001, 0, Register.ECX, 0);
        define("svm", 0x8000_0001, 0, Register.ECX, 2);
        define("abm", 0x8000_0001, 0, Register.ECX, 5);
        define("sse4a", 0x8000_0001, 0, Register.ECX, 6);
        define("3dnowprefetch", 0x8000_0001, 0, Register.ECX, 8);
        define("syscall", 0x8000_0001, 0, Register.EDX, 11);
        define("nx", 0x8000_0001, 0, Register.EDX, 20);
        define("pdpe1gb", 0x8000_0001, 0, Register.EDX, 26);
        define("rdtscp", 0x8000_0001, 0, Register.EDX, 27);
        define("lm", 0x8000_0001, 0, Register.EDX, 29);
        // Leaf 0x80000007 EDX
        define("invtsc", 0x8000_0007, 0, Register.EDX, 8);
        // KVM's paravirtual features, leaf 0x40000001 EAX (Documentation/virt/kvm/x86/cpuid.rst).
        // Every CPU model offers those the host's KVM has, as QEMU does with accel=kvm.
        // kvmclock is both the old (bit 0) and the new (bit 3) MSR pair.
        BY_NAME.put("kvmclock", new CpuFeature("kvmclock", KVM_FEATURES_LEAF, 0, Register.EAX, 1 | 1 << 3));
        define("kvm-nopiodelay", KVM_FEATURES_LEAF, 0, Register.EAX, 1);
        define("kvm-mmu", KVM_FEATURES_LEAF, 0, Register.EAX, 2);
        define("kvmclock-stable-bit", KVM_FEATURES_LEAF, 0, Register.EAX, 24);
        define("kvm-asyncpf", KVM_FEATURES_LEAF, 0, Register.EAX, 4);
        define("kvm-steal-time", KVM_FEATURES_LEAF, 0, Register.EAX, 5);
        define("kvm-pv-eoi", KVM_FEATURES_LEAF, 0, Register.EAX, 6);
        define("kvm-pv-unhalt", KVM_FEATURES_LEAF, 0, Register.EAX, 7);
        define("kvm-pv-tlb-flush", KVM_FEATURES_LEAF, 0, Register.EAX, 9);
        define("kvm-asyncpf-vmexit", KVM_FEATURES_LEAF, 0, Register.EAX, 10);
        define("kvm-pv-ipi", KVM_FEATURES_LEAF, 0, Register.EAX, 11);
        define("kvm-poll-control", KVM_FEATURES_LEAF, 0, Register.EAX, 12);
        define("kvm-pv-sched-yield", KVM_FEATURES_LEAF, 0, Register.EAX, 13);
        define("kvm-asyncpf-int", KVM_FEATURES_LEAF, 0, Register.EAX, 14);
        define("kvm-msi-ext-dest-id", KVM_FEATURES_LEAF, 0, Register.EAX, 15);
    }

    /** Looks a feature up by QEMU's name; underscores and dashes are interchangeable, as in QEMU. */
    public static CpuFeature named(String name) {
        String key = name.toLowerCase(Locale.ROOT);
        CpuFeature feature = BY_NAME.get(key);
        if (feature == null) {
            feature = BY_NAME.get(key.replace('_', '-'));
        }
        if (feature == null) {
            feature = BY_NAME.get(key.replace('-', '_'));
        }
        return feature;
    }
}
