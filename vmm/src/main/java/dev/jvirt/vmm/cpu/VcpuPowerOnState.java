package dev.jvirt.vmm.cpu;

import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Regs;
import dev.jvirt.kvm.Sregs;
import dev.jvirt.kvm.Vcpu;

/**
 * One vCPU's state as the machine built it, before any boot protocol touched it: what a reset puts
 * back. Registers, segment and control registers, the LAPIC page (with {@link VcpuSetup}'s LINT
 * wiring) and the event state (nothing pending) come from KVM itself, so they are exactly what a
 * fresh vCPU had; FPU, MSRs and CPUID are set as at build ({@link VcpuSetup}; CPUID never changes).
 */
public final class VcpuPowerOnState {

    private final Regs regs;
    private final Sregs sregs;
    private final byte[] lapic;
    private final byte[] events;

    private VcpuPowerOnState(Regs regs, Sregs sregs, byte[] lapic, byte[] events) {
        this.regs = regs;
        this.sregs = sregs;
        this.lapic = lapic;
        this.events = events;
    }

    /** Call right after {@link VcpuSetup#configure}, before the boot vCPU gets its entry state. */
    public static VcpuPowerOnState capture(Vcpu vcpu) throws KvmException {
        return new VcpuPowerOnState(vcpu.getRegs(), vcpu.getSregs(), vcpu.getLapic(), vcpu.getEvents());
    }

    /**
     * Puts {@code vcpu} back to power-on. The boot vCPU is left runnable, for its entry state to be
     * set next; an application processor waits for INIT and SIPI again, as when KVM created it.
     */
    public void restore(Vcpu vcpu, boolean bootProcessor) throws KvmException {
        vcpu.setSregs(sregs);            // first: the APIC base in it decides how the LAPIC page is read
        vcpu.setRegs(regs);
        vcpu.setLapic(lapic);
        vcpu.setEvents(events);          // no exception, interrupt or NMI left pending from the old run
        VcpuSetup.configure(vcpu);       // FPU defaults and MSRs (MTRRs, MISC_ENABLE) as at build
        VcpuSetup.clearParavirtualMsrs(vcpu);
        // A halted boot vCPU (QMP system_reset of an idle guest) would otherwise wait for an interrupt.
        vcpu.setMpState(bootProcessor ? Vcpu.MP_STATE_RUNNABLE : Vcpu.MP_STATE_UNINITIALIZED);
    }
}
