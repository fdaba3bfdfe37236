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

    private static void setLvt(MemorySegment lapic, int register, int deliveryMode) {
        int value = lapic.get(ValueLayout.JAVA_INT, register);
        value = (value & ~0x700) | deliveryMode;
        lapic.set(ValueLayout.JAVA_INT, register, value);
    }
}
