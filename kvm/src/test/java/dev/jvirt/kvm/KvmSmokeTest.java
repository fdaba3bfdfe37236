package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs a few real-mode instructions on /dev/kvm: proves the ioctl bindings and kvm_run decoding. */
class KvmSmokeTest {

    @BeforeAll
    static void needKvm() {
        assumeTrue(Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm")), "/dev/kvm not accessible");
    }

    @Test
    void guestCodeDoesPortIoAndHalts() throws Exception {
        try (Kvm kvm = Kvm.open("/dev/kvm"); Vm vm = kvm.createVm()) {
            MemorySegment ram = Libc.mmap(0x10000, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            byte[] code = {
                (byte) 0xB0, 0x42,       // mov al, 0x42
                (byte) 0xE6, 0x10,       // out 0x10, al
                (byte) 0xE4, 0x11,       // in al, 0x11
                (byte) 0xE6, 0x12,       // out 0x12, al
                (byte) 0xF4,             // hlt
            };
            MemorySegment.copy(code, 0, ram, JAVA_BYTE, 0x1000, code.length);
            vm.setUserMemoryRegion(0, 0, ram, false);
            try (Vcpu vcpu = vm.createVcpu(0)) {
                Sregs sregs = vcpu.getSregs();
                sregs.cs.base = 0;
                sregs.cs.selector = 0;
                vcpu.setSregs(sregs);
                Regs regs = new Regs();
                regs.rip = 0x1000;
                regs.rflags = 2;
                vcpu.setRegs(regs);

                assertEquals(ExitReason.IO, vcpu.run());
                assertEquals(Vcpu.IO_OUT, vcpu.ioDirection());
                assertEquals(0x10, vcpu.ioPort());
                assertEquals(0x42, vcpu.ioData(0));

                assertEquals(ExitReason.IO, vcpu.run());
                assertEquals(Vcpu.IO_IN, vcpu.ioDirection());
                assertEquals(0x11, vcpu.ioPort());
                vcpu.setIoData(0, 0x99);

                assertEquals(ExitReason.IO, vcpu.run());
                assertEquals(0x12, vcpu.ioPort());
                assertEquals(0x99, vcpu.ioData(0), "the value we returned for IN reached the guest's AL");

                assertEquals(ExitReason.HLT, vcpu.run());
                assertEquals(0x1009, vcpu.getRegs().rip);
            }
        }
    }

    @Test
    void immediateExitInterruptsRun() throws Exception {
        try (Kvm kvm = Kvm.open("/dev/kvm"); Vm vm = kvm.createVm(); Vcpu vcpu = vm.createVcpu(0)) {
            vcpu.requestImmediateExit(true);
            assertEquals(ExitReason.INTR, vcpu.run());
        }
    }

    @Test
    void capabilitiesAndCpuidAreReadable() throws Exception {
        try (Kvm kvm = Kvm.open("/dev/kvm")) {
            assertTrue(kvm.checkExtension(Capability.NR_VCPUS) > 0);
            assertFalse(kvm.supportedCpuid().isEmpty());
            assertTrue(kvm.supportedCpuid().stream().anyMatch(e -> e.function() == 0x40000000), "KVM paravirt leaves");
        }
    }

    @Test
    void failedIoctlNamesItselfAndErrno() throws Exception {
        try (Kvm kvm = Kvm.open("/dev/kvm"); Vm vm = kvm.createVm()) {
            KvmException e = assertThrows(KvmException.class, () -> vm.setIrqLine(5, true));
            assertTrue(e.getMessage().startsWith("KVM_IRQ_LINE(5) failed: "), e.getMessage());
            assertTrue(e.getMessage().contains("errno"), e.getMessage());
        }
    }

    @Test
    void missingDeviceIsReportedByPath() {
        NativeException e = assertThrows(NativeException.class, () -> Kvm.open("/nonexistent/kvm"));
        assertEquals("open /nonexistent/kvm failed: No such file or directory (errno 2)", e.getMessage());
    }
}
