package dev.jvirt.vmm.boot;

import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Regs;
import dev.jvirt.kvm.Segment;
import dev.jvirt.kvm.Sregs;
import dev.jvirt.kvm.Vcpu;
import dev.jvirt.memory.GuestMemory;

/**
 * Puts the boot vCPU where Xen's PVH entry wants it (docs/misc/pvh.pandoc): 32-bit protected mode,
 * paging off, CR4 and EFER clear, flat 32-bit code and data segments, a busy 32-bit TSS, interrupts
 * off, EBX pointing at hvm_start_info. The kernel loads its own GDT at once; ours is only there so
 * the selectors in the segment registers name real descriptors.
 */
public final class Pvh32Setup {

    private static final long CR0_PE = 1L;
    private static final long CR0_ET = 1L << 4;

    static final int CODE_SELECTOR = 0x08;
    static final int DATA_SELECTOR = 0x10;
    static final int TSS_SELECTOR = 0x18;

    /** GDT entries: null, 32-bit code, data, TSS. */
    private static final long[] GDT = {
        0,
        0x00CF_9B00_0000_FFFFL, // code: present, DPL 0, execute/read (accessed), D/B=1, G=1
        0x00CF_9300_0000_FFFFL, // data: present, DPL 0, read/write (accessed), D/B=1, G=1
        0x0000_8B00_0000_0067L, // busy 32-bit TSS at 0, limit 0x67: pvh.pandoc asks for an active one in TR
    };

    private Pvh32Setup() {
    }

    /** Writes the GDT and an empty IDT (any exception before the kernel's own IDT shuts the guest down). */
    public static void writeTables(GuestMemory memory) {
        for (int i = 0; i < GDT.length; i++) {
            memory.writeLong(BootLayout.GDT + 8L * i, GDT[i]);
        }
        memory.writeLong(BootLayout.IDT, 0);
    }

    public static void configureBootVcpu(Vcpu vcpu, KernelEntry entry) throws KvmException {
        Sregs sregs = vcpu.getSregs();
        applyTo(sregs);
        vcpu.setSregs(sregs);
        vcpu.setRegs(registers(entry));
    }

    /** The PVH segment and control registers, set in {@code sregs} (which keeps KVM's APIC base and pending interrupts). */
    static void applyTo(Sregs sregs) {
        flat(sregs.cs, CODE_SELECTOR, 0xB);
        for (Segment data : new Segment[] {sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss}) {
            flat(data, DATA_SELECTOR, 0x3);
        }
        sregs.tr.base = 0;
        sregs.tr.limit = 0x67;
        sregs.tr.selector = TSS_SELECTOR;
        sregs.tr.type = 0xB;
        sregs.tr.present = true;
        sregs.tr.dpl = 0;
        sregs.tr.s = false;
        sregs.tr.db = false;
        sregs.tr.l = false;
        sregs.tr.g = false;
        sregs.tr.unusable = false;
        sregs.gdtBase = BootLayout.GDT;
        sregs.gdtLimit = GDT.length * 8 - 1;
        sregs.idtBase = BootLayout.IDT;
        sregs.idtLimit = 7;
        // pvh.pandoc: PE set, every other writable bit clear (so caching on); ET is fixed to 1 by the CPU.
        sregs.cr0 = CR0_PE | CR0_ET;
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
    }

    static Regs registers(KernelEntry entry) {
        Regs regs = new Regs();
        regs.rip = entry.entryPoint();
        regs.rbx = entry.bootParams();
        regs.rflags = 0x2; // reserved bit 1; IF, TF and VM clear, as pvh.pandoc requires
        return regs;
    }

    private static void flat(Segment segment, int selector, int type) {
        segment.base = 0;
        segment.limit = 0xFFFF_FFFF;
        segment.selector = selector;
        segment.type = type;
        segment.present = true;
        segment.dpl = 0;
        segment.s = true;
        segment.l = false;
        segment.db = true;
        segment.g = true;
        segment.avl = false;
        segment.unusable = false;
    }
}
