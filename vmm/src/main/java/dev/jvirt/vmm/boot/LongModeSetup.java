package dev.jvirt.vmm.boot;

import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Regs;
import dev.jvirt.kvm.Segment;
import dev.jvirt.kvm.Sregs;
import dev.jvirt.kvm.Vcpu;
import dev.jvirt.memory.GuestMemory;

/**
 * Puts the boot vCPU where the 64-bit Linux boot protocol wants it: long mode, paging on with an
 * identity map, flat segments with CS = __BOOT_CS (0x10) and DS/ES/SS = __BOOT_DS (0x18),
 * interrupts off, RSI pointing at boot_params.
 */
public final class LongModeSetup {

    private static final long CR0_PE = 1L;
    private static final long CR0_ET = 1L << 4;
    private static final long CR0_PG = 1L << 31;
    private static final long CR4_PAE = 1L << 5;
    private static final long EFER_LME = 1L << 8;
    private static final long EFER_LMA = 1L << 10;

    private static final int BOOT_CS = 0x10;
    private static final int BOOT_DS = 0x18;
    private static final int BOOT_TSS = 0x20;

    /** GDT entries: null, null, 64-bit code, data, TSS (the boot protocol fixes the selectors). */
    private static final long[] GDT = {
        0,
        0,
        0x00AF_9B00_0000_FFFFL, // code: present, DPL 0, execute/read, L=1, G=1
        0x00CF_9300_0000_FFFFL, // data: present, DPL 0, read/write, D/B=1, G=1
        0x0080_8B00_0000_0067L, // busy 64-bit TSS, never loaded by the guest, but KVM wants a valid TR
    };

    private LongModeSetup() {
    }

    /** Writes the GDT, an empty IDT and the identity-mapping page tables into guest RAM. */
    public static void writeTables(GuestMemory memory) {
        for (int i = 0; i < GDT.length; i++) {
            memory.writeLong(BootLayout.GDT + 8L * i, GDT[i]);
        }
        memory.writeLong(BootLayout.IDT, 0);
        memory.fill(BootLayout.PML4, 0x1000, (byte) 0);
        memory.fill(BootLayout.PDPT, 0x1000, (byte) 0);
        memory.writeLong(BootLayout.PML4, BootLayout.PDPT | 0x3); // present, writable
        for (int gib = 0; gib < 4; gib++) {
            long directory = BootLayout.PAGE_DIRECTORIES + 0x1000L * gib;
            memory.writeLong(BootLayout.PDPT + 8L * gib, directory | 0x3);
            for (int entry = 0; entry < 512; entry++) {
                long physical = ((long) gib << 30) + ((long) entry << 21);
                memory.writeLong(directory + 8L * entry, physical | 0x83); // present, writable, 2 MiB page
            }
        }
    }

    public static void configureBootVcpu(Vcpu vcpu, KernelEntry entry) throws KvmException {
        Sregs sregs = vcpu.getSregs();
        flat(sregs.cs, BOOT_CS, 0xB, true);
        for (Segment data : new Segment[] {sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss}) {
            flat(data, BOOT_DS, 0x3, false);
        }
        sregs.tr.base = 0;
        sregs.tr.limit = 0x67;
        sregs.tr.selector = BOOT_TSS;
        sregs.tr.type = 0xB;
        sregs.tr.present = true;
        sregs.tr.s = false;
        sregs.tr.unusable = false;
        sregs.gdtBase = BootLayout.GDT;
        sregs.gdtLimit = GDT.length * 8 - 1;
        sregs.idtBase = BootLayout.IDT;
        sregs.idtLimit = 7;
        sregs.cr0 = (sregs.cr0 | CR0_PE | CR0_ET | CR0_PG) & ~((1L << 29) | (1L << 30)); // caches on (NW=CD=0)
        sregs.cr3 = BootLayout.PML4;
        sregs.cr4 |= CR4_PAE;
        sregs.efer |= EFER_LME | EFER_LMA;
        vcpu.setSregs(sregs);

        Regs regs = new Regs();
        regs.rip = entry.entryPoint();
        regs.rsi = entry.bootParams();
        regs.rsp = BootLayout.BOOT_STACK;
        regs.rbp = BootLayout.BOOT_STACK;
        regs.rflags = 0x2; // reserved bit 1; IF clear
        vcpu.setRegs(regs);
    }

    private static void flat(Segment segment, int selector, int type, boolean code) {
        segment.base = 0;
        segment.limit = 0xFFFF_FFFF;
        segment.selector = selector;
        segment.type = type;
        segment.present = true;
        segment.dpl = 0;
        segment.s = true;
        segment.l = code;
        segment.db = !code;
        segment.g = true;
        segment.avl = false;
        segment.unusable = false;
    }
}
