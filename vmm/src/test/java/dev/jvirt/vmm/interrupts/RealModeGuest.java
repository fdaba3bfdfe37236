package dev.jvirt.vmm.interrupts;

import dev.jvirt.kvm.Kvm;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Regs;
import dev.jvirt.kvm.Sregs;
import dev.jvirt.kvm.Vcpu;
import dev.jvirt.kvm.Vm;
import dev.jvirt.kvm.sys.Libc;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A VM with the in-kernel irqchip, 64 KiB of RAM and one vCPU in real mode: small enough for a
 * /dev/kvm that emulates every instruction. Handlers of vectors 0x40-0x43 write their vector to
 * port {@link #REPORT_PORT}, so a test sees which interrupt the guest took.
 */
final class RealModeGuest implements AutoCloseable {

    static final int REPORT_PORT = 0x99;
    static final int READY_PORT = 0x98;
    static final long RAM_SIZE = 0x10000;
    static final long CODE = 0x1000;

    final Kvm kvm;
    final Vm vm;
    final Vcpu vcpu;
    private final MemorySegment ram;

    static boolean kvmAvailable() {
        return Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm"));
    }

    RealModeGuest() throws Exception {
        Libc.installNoOpHandler(Libc.SIGUSR1);
        kvm = Kvm.open("/dev/kvm");
        vm = kvm.createVm();
        vm.createIrqchip();
        ram = Libc.mmap(RAM_SIZE, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        vm.setUserMemoryRegion(0, 0, ram, false);
        vcpu = vm.createVcpu(0);
        for (int vector = 0x40; vector <= 0x43; vector++) {
            int handler = 0x3000 + 0x10 * (vector - 0x40);
            ram.set(JAVA_SHORT, 4L * vector, (short) handler);
            ram.set(JAVA_SHORT, 4L * vector + 2, (short) 0);
            load(handler, 0xB0, vector, 0xE6, REPORT_PORT, 0xCF); // mov al, vector; out 0x99, al; iret
        }
        vcpu.editLapic(lapic -> lapic.set(JAVA_INT, 0xF0, 0x1FF)); // spurious vector register: APIC enabled
    }

    void load(long address, int... code) {
        for (int i = 0; i < code.length; i++) {
            ram.set(JAVA_BYTE, address + i, (byte) code[i]);
        }
    }

    /**
     * Guest code that runs {@code before}, masks both PICs, says it is ready (an exit at port
     * {@link #READY_PORT}), then enables interrupts and halts forever.
     */
    static int[] haltWithInterrupts(int... before) {
        int[] tail = {
            0xB0, 0xFF, 0xE6, 0x21, 0xE6, 0xA1,   // mov al, 0xff; out 0x21, al; out 0xa1, al (PICs masked)
            0xE6, READY_PORT,                     // out 0x98, al
            0xFB,                                 // sti
            0xF4,                                 // hlt
            0xEB, 0xFD,                           // jmp hlt
        };
        int[] code = new int[before.length + tail.length];
        System.arraycopy(before, 0, code, 0, before.length);
        System.arraycopy(tail, 0, code, before.length, tail.length);
        return code;
    }

    void start(long dataSegmentBase, int... code) throws KvmException {
        load(CODE, code);
        Sregs sregs = vcpu.getSregs();
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        sregs.ss.base = 0;
        sregs.ss.selector = 0;
        sregs.ds.base = dataSegmentBase;
        sregs.ds.selector = (int) ((dataSegmentBase >>> 4) & 0xFFFF);
        vcpu.setSregs(sregs);
        Regs regs = new Regs();
        regs.rip = CODE;
        regs.rsp = 0x8000;
        regs.rflags = 2;
        vcpu.setRegs(regs);
    }

    /** Runs until the next exit; a watchdog interrupts a guest halted past the deadline (INTR). */
    int run(long millis) throws Exception {
        int tid = Libc.gettid();
        AtomicBoolean done = new AtomicBoolean();
        Thread watchdog = Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(millis);
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

    @Override
    public void close() {
        vcpu.close();
        vm.close();
        kvm.close();
        Libc.munmap(ram);
    }
}
