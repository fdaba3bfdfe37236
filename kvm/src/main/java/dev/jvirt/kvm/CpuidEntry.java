package dev.jvirt.kvm;

/**
 * struct kvm_cpuid_entry2: one CPUID leaf/subleaf and its four result registers.
 * {@code flags} carries KVM_CPUID_FLAG_SIGNIFCANT_INDEX (1) for leaves indexed by ECX.
 */
public record CpuidEntry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {

    static final int SIZE = 40;
    public static final int FLAG_SIGNIFICANT_INDEX = 1;

    public CpuidEntry withEax(int value) {
        return new CpuidEntry(function, index, flags, value, ebx, ecx, edx);
    }

    public CpuidEntry withEbx(int value) {
        return new CpuidEntry(function, index, flags, eax, value, ecx, edx);
    }

    public CpuidEntry withEcx(int value) {
        return new CpuidEntry(function, index, flags, eax, ebx, value, edx);
    }

    public CpuidEntry withEdx(int value) {
        return new CpuidEntry(function, index, flags, eax, ebx, ecx, value);
    }

    @Override
    public String toString() {
        return "0x%08x.%d: eax=%08x ebx=%08x ecx=%08x edx=%08x".formatted(function, index, eax, ebx, ecx, edx);
    }
}
