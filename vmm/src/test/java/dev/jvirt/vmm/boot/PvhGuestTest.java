package dev.jvirt.vmm.boot;

import dev.jvirt.kvm.ExitReason;
import dev.jvirt.kvm.Kvm;
import dev.jvirt.kvm.Vcpu;
import dev.jvirt.kvm.Vm;
import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.memory.E820Map;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.memory.GuestRegion;
import dev.jvirt.memory.MemoryBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A tiny PVH "kernel" really entered on /dev/kvm: a few 32-bit instructions that read what the
 * loader left for them and write it to a port. Small enough for a /dev/kvm that emulates every
 * instruction; the same loader and vCPU setup as jvirt-vmm uses.
 */
class PvhGuestTest {

    private static final int REPORT_PORT = 0x99;
    private static final long DEADLINE_MILLIS = 30_000;

    /** Reports [ebx] (the magic), ebx, cr0, cs, then the first 4 bytes at cmdline_paddr; halts. */
    private static final byte[] CODE = {
        (byte) 0x8B, 0x03,                                  // mov eax, [ebx]
        0x66, (byte) 0xBA, (byte) REPORT_PORT, 0x00,            // mov dx, REPORT_PORT
        (byte) 0xEF,                                        // out dx, eax
        (byte) 0x89, (byte) 0xD8,                           // mov eax, ebx
        (byte) 0xEF,                                        // out dx, eax
        0x0F, 0x20, (byte) 0xC0,                            // mov eax, cr0
        (byte) 0xEF,                                        // out dx, eax
        (byte) 0x8C, (byte) 0xC8,                           // mov eax, cs
        0x25, (byte) 0xFF, (byte) 0xFF, 0x00, 0x00,         // and eax, 0xffff
        (byte) 0xEF,                                        // out dx, eax
        (byte) 0x8B, 0x73, 0x18,                            // mov esi, [ebx + 0x18] (cmdline_paddr)
        (byte) 0x8B, 0x06,                                  // mov eax, [esi]
        (byte) 0xEF,                                        // out dx, eax
        (byte) 0xF4,                                        // hlt
    };

    @TempDir
    Path dir;

    @Test
    void guestEntersIn32BitModeWithStartInfoInEbx() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm")), "/dev/kvm not accessible");
        Path kernel = dir.resolve("pvh-guest");
        Files.write(kernel, TinyElf.build(CODE, TinyElf.pvhNote(TinyElf.LOAD_ADDRESS, 4), 4));
        Libc.installNoOpHandler(Libc.SIGUSR1);
        try (GuestMemory memory = GuestMemory.allocate(4 << 20, MemoryBackend.anonymous());
             Kvm kvm = Kvm.open("/dev/kvm");
             Vm vm = kvm.createVm()) {
            vm.setTssAddress(BootLayout.KVM_TSS);
            vm.setIdentityMapAddress(BootLayout.KVM_IDENTITY_MAP);
            int slot = 0;
            for (GuestRegion region : memory.regions()) {
                vm.setUserMemoryRegion(slot++, region.guestBase(), region.host(), false);
            }
            E820Map e820 = new E820Map().add(0, BootLayout.EBDA, E820Map.RAM)
                    .add(BootLayout.HIGH_MEMORY, memory.lowRamEnd() - BootLayout.HIGH_MEMORY, E820Map.RAM);
            KernelEntry entry = LinuxLoader.load(memory, kernel, null, "console=ttyS0", e820, 0);
            assertEquals(KernelEntry.Protocol.PVH, entry.protocol());
            Pvh32Setup.writeTables(memory);
            try (Vcpu vcpu = vm.createVcpu(0)) {
                Pvh32Setup.configureBootVcpu(vcpu, entry);
                assertEquals(0x336EC578, report(vcpu), "magic read through EBX");
                assertEquals((int) BootLayout.PVH_START_INFO, report(vcpu), "EBX");
                assertEquals(0x1, report(vcpu) & 0x8000_0001, "CR0: protected mode, paging off");
                assertEquals(0x08, report(vcpu), "CS is the GDT's code descriptor");
                assertEquals(0x736E_6F63, report(vcpu), "\"cons\" at cmdline_paddr");
                int reason = run(vcpu);
                assertEquals(ExitReason.HLT, reason, ExitReason.name(reason));
            }
        }
    }

    private static int report(Vcpu vcpu) throws Exception {
        int reason = run(vcpu);
        assertEquals(ExitReason.IO, reason, "expected a port write, got " + ExitReason.name(reason)
                + (reason == ExitReason.IO ? "" : "\n" + vcpu.getRegs() + "\n" + vcpu.getSregs()));
        assertEquals(REPORT_PORT, vcpu.ioPort());
        assertEquals(4, vcpu.ioSize());
        return vcpu.ioData(0);
    }

    /** Runs to the next exit; a watchdog interrupts a guest still running at the deadline (KVM_EXIT_INTR). */
    private static int run(Vcpu vcpu) throws Exception {
        int tid = Libc.gettid();
        AtomicBoolean done = new AtomicBoolean();
        Thread watchdog = Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(DEADLINE_MILLIS);
                while (!done.get()) {
                    Libc.tgkill(tid, Libc.SIGUSR1);
                    Thread.sleep(50);
                }
            } catch (InterruptedException e) {
                // ended in time
            }
        });
        try {
            return vcpu.run();
        } finally {
            done.set(true);
            watchdog.interrupt();
            watchdog.join();
        }
    }
}
