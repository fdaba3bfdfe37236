package dev.jvirt.vmm.cpu;

import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vcpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

/** Power-on state every vCPU needs beyond CPUID: FPU defaults, MSRs, and LAPIC LINT wiring. */
public final class VcpuSetup {

    private static final int MSR_IA32_MISC_ENABLE = 0x1A0;
    private static final int MSR_MTRR_DEF_TYPE = 0x2FF;
    private static final long MISC_ENABLE_FAST_STRING = 1;
    /** MTRRs enabled, default memory type write-back: RAM is cacheable as on real firmware. */
    private static final long MTRR_ENABLE_DEFAULT_WB = (1 << 11) | 6;

    private static final int APIC_LVT_LINT0 = 0x350;
    private static final int APIC_LVT_LINT1 = 0x360;
    private static final int DELIVERY_EXTINT = 7 << 8;
    private static final int DELIVERY_NMI = 4 << 8;

    private VcpuSetup() {
    }

    public static void configure(Vcpu vcpu) throws KvmException {
        vcpu.setFpuDefaults(0x37F, 0x1F80);
        Map<Integer, Long> msrs = new LinkedHashMap<>();
        msrs.put(MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING);
        msrs.put(MSR_MTRR_DEF_TYPE, MTRR_ENABLE_DEFAULT_WB);
        vcpu.setMsrs(msrs);
        // As a PC BIOS leaves it: LINT0 takes the 8259 PIC's output (ExtINT), LINT1 is NMI.
        vcpu.editLapic(lapic -> {
            setLvt(lapic, APIC_LVT_LINT0, DELIVERY_EXTINT);
            setLvt(lapic, APIC_LVT_LINT1, DELIVERY_NMI);
        });
    }

    /**
     * kvm-clock, async page faults, steal time and PV EOI: MSRs through which KVM keeps writing
     * into guest RAM at addresses the old kernel chose. A reset must turn them off (0), or KVM
     * would scribble over the new kernel. (The wall-clock MSRs are one-shot writes: left alone,
     * since writing 0 to them would make KVM write the time at guest address 0.)
     */
    private static final int[] PARAVIRT_MSRS_WRITING_GUEST_RAM = {
        0x12,        // MSR_KVM_SYSTEM_TIME
        0x4B564D01,  // MSR_KVM_SYSTEM_TIME_NEW
        0x4B564D02,  // MSR_KVM_ASYNC_PF_EN
        0x4B564D03,  // MSR_KVM_STEAL_TIME
        0x4B564D04,  // MSR_KVM_PV_EOI_EN
    };

    /** Turns off the paravirtual MSRs that make KVM write guest RAM; those KVM does not offer are skipped. */
    public static void clearParavirtualMsrs(Vcpu vcpu) {
        for (int msr : PARAVIRT_MSRS_WRITING_GUEST_RAM) {
            try {
                vcpu.setMsrs(Map.of(msr, 0L));
            } catch (KvmException e) {
                // KVM refuses an MSR it does not implement for this guest; then the guest could not have enabled it either.
            }
        }
    }

    private static void setLvt(MemorySegment lapic, int register, int deliveryMode) {
        int value = lapic.get(ValueLayout.JAVA_INT, register);
        value = (value & ~0x700) | deliveryMode;
        lapic.set(ValueLayout.JAVA_INT, register, value);
    }
}
