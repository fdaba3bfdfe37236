package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * irqfd, ioeventfd, GSI routing and KVM_SIGNAL_MSI on a real-mode guest: the guest sees the
 * interrupt vector an MSI route names, and a write at an ioeventfd address signals the eventfd
 * without an exit.
 */
class InterruptPlumbingTest {

    private static final long MSI_ADDRESS = 0xFEE0_0000L; // local APIC 0, physical destination
    private static final int REPORT_PORT = 0x99;
    private static final long RAM_SIZE = 0x10000;

    private Kvm kvm;
    private Vm vm;
    private Vcpu vcpu;
    private MemorySegment ram;

    @BeforeAll
    static void needKvm() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm")), "/dev/kvm not accessible");
        Libc.installNoOpHandler(Libc.SIGUSR1);
    }

    @BeforeEach
    void createVm() throws Exception {
        kvm = Kvm.open("/dev/kvm");
        vm = kvm.createVm();
        vm.createIrqchip();
        ram = Libc.mmap(RAM_SIZE, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        vm.setUserMemoryRegion(0, 0, ram, false);
        vcpu = vm.createVcpu(0);
    }

    @AfterEach
    void closeVm() {
        if (vcpu != null) {
            vcpu.close();
        }
        if (vm != null) {
            vm.close();
        }
        if (kvm != null) {
            kvm.close();
        }
        if (ram != null) {
            Libc.munmap(ram);
        }
    }

    private void load(long address, int... code) {
        for (int i = 0; i < code.length; i++) {
            ram.set(JAVA_BYTE, address + i, (byte) code[i]);
        }
    }

    private void start(long rip, long dataSegmentBase) throws KvmException {
        Sregs sregs = vcpu.getSregs();
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        sregs.ss.base = 0;
        sregs.ss.selector = 0;
        sregs.ds.base = dataSegmentBase;
        sregs.ds.selector = (int) (dataSegmentBase >>> 4);
        vcpu.setSregs(sregs);
        Regs regs = new Regs();
        regs.rip = rip;
        regs.rsp = 0x8000;
        regs.rflags = 2;
        vcpu.setRegs(regs);
    }

    /**
     * A guest that enables interrupts and halts; the handlers of vectors 0x40 and 0x41 write their
     * vector number to port 0x99. The local APIC is software-enabled so it accepts fixed interrupts.
     */
    private void loadHaltingGuestWithHandlers() throws KvmException {
        for (int vector = 0x40; vector <= 0x41; vector++) {
            int handler = 0x3000 + 0x10 * (vector - 0x40);
            ram.set(JAVA_SHORT, 4L * vector, (short) handler); // real-mode IVT: offset, then segment 0
            ram.set(JAVA_SHORT, 4L * vector + 2, (short) 0);
            load(handler, 0xB0, vector,   // mov al, vector
                    0xE6, REPORT_PORT,      // out 0x99, al
                    0xCF);                         // iret
        }
        load(0x1000, 0xFB,                         // sti
                0xF4,                              // hlt
                0xEB, 0xFD);                // jmp hlt
        vcpu.editLapic(lapic -> lapic.set(JAVA_INT, 0xF0, 0x1FF)); // spurious vector register: APIC enabled
        start(0x1000, 0);
    }

    /**
     * Runs the vCPU until its next exit. A guest halted with the in-kernel LAPIC waits inside
     * KVM_RUN, so a watchdog interrupts it (INTR) rather than let a lost interrupt hang the test.
     */
    private int runWithDeadline(long millis) throws Exception {
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
                // the run ended in time
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

    private void assertGuestReported(int vector) throws Exception {
        int reason = runWithDeadline(30_000);
        assertEquals(ExitReason.IO, reason, "the guest took no interrupt (exit " + reason + ")");
        assertEquals(REPORT_PORT, vcpu.ioPort());
        assertEquals(vector, vcpu.ioData(0), "the handler of the vector the MSI named ran");
    }

    private static List<GsiRoute> defaultsPlus(GsiRoute... extra) {
        List<GsiRoute> routes = new ArrayList<>(IrqRouting.pcDefaults());
        routes.addAll(List.of(extra));
        return routes;
    }

    @Test
    void kvmOffersThePlumbingCapabilities() throws Exception {
        vm.requireCapabilities(Capability.IRQFD, Capability.IOEVENTFD, Capability.IRQ_ROUTING, Capability.SIGNAL_MSI);
        assertTrue(vm.maxGsiRoutes() > IrqRouting.FIRST_FREE_GSI);
    }

    @Test
    void irqfdOnAnMsiRouteInterruptsTheGuest() throws Exception {
        loadHaltingGuestWithHandlers();
        vm.setGsiRouting(defaultsPlus(new GsiRoute.Msi(24, MSI_ADDRESS, 0x40)));
        try (EventFd eventFd = EventFd.create()) {
            vm.registerIrqfd(eventFd, 24);
            assertTrue(eventFd.signal());
            assertGuestReported(0x40);
            vm.unregisterIrqfd(eventFd, 24);
        }
    }

    @Test
    void reroutingAGsiChangesTheVectorTheGuestSees() throws Exception {
        loadHaltingGuestWithHandlers();
        try (EventFd eventFd = EventFd.create()) {
            vm.setGsiRouting(defaultsPlus(new GsiRoute.Msi(30, MSI_ADDRESS, 0x40)));
            vm.registerIrqfd(eventFd, 30);
            vm.setGsiRouting(defaultsPlus(new GsiRoute.Msi(30, MSI_ADDRESS, 0x41)));
            eventFd.signal();
            assertGuestReported(0x41);
        }
    }

    @Test
    void signalMsiInterruptsTheGuestWithoutARoute() throws Exception {
        loadHaltingGuestWithHandlers();
        assertTrue(vm.signalMsi(MSI_ADDRESS, 0x41), "delivered to an enabled local APIC");
        assertGuestReported(0x41);
    }

    @Test
    void legacyLinesStillWorkAfterTheTableIsReplaced() throws Exception {
        vm.setGsiRouting(defaultsPlus(new GsiRoute.Msi(24, MSI_ADDRESS, 0x40)));
        for (int gsi : new int[] {0, 1, 4, 8, 9, 12, 14, 15, 16, 23}) {
            vm.setIrqLine(gsi, true);
            vm.setIrqLine(gsi, false);
        }
    }

    @Test
    void kvmRefusesAnMsiRouteSharingAGsiWithAPin() {
        List<GsiRoute> routes = defaultsPlus(new GsiRoute.Msi(5, MSI_ADDRESS, 0x40));
        assertThrows(IllegalArgumentException.class, () -> vm.setGsiRouting(routes));
    }

    @Test
    void ioeventfdTakesTheGuestWriteWithoutAnExit() throws Exception {
        long dataSegment = 0x10000; // just past RAM: every access there is MMIO
        load(0x1000,
                0xB8, 0x34, 0x12,                  // start: mov ax, 0x1234
                0xA3, 0x00, 0x20,                  // mov [0x2000], ax   (0x12000: the ioeventfd)
                0xA3, 0x04, 0x20,                  // mov [0x2004], ax   (0x12004: plain MMIO)
                0xEB, 0xF5);                // jmp start
        start(0x1000, dataSegment);
        try (EventFd eventFd = EventFd.create()) {
            vm.registerIoeventfd(0x12000, 2, eventFd, true);

            assertEquals(ExitReason.MMIO, runWithDeadline(30_000));
            assertEquals(0x12004, vcpu.mmioAddress(), "the write at 0x12000 did not exit");
            assertEquals(1, eventFd.consume(), "it signalled the eventfd instead");

            vm.unregisterIoeventfd(0x12000, 2, eventFd, true);
            assertEquals(ExitReason.MMIO, runWithDeadline(30_000));
            assertEquals(0x12000, vcpu.mmioAddress(), "unregistered: the write exits again");
            assertTrue(vcpu.mmioIsWrite());
            assertEquals(2, vcpu.mmioLength());
            assertEquals(0x1234, vcpu.mmioData());
            assertEquals(0, eventFd.consume());
        }
    }

    @Test
    void ioeventfdWithDatamatchOnlyTakesThatValue() throws Exception {
        load(0x1000,
                0xB8, 0x34, 0x12,                  // mov ax, 0x1234
                0xA3, 0x00, 0x20,                  // mov [0x2000], ax  (no match: exits)
                0xB8, 0x07, 0x00,                  // mov ax, 7
                0xA3, 0x00, 0x20,                  // mov [0x2000], ax  (match: no exit)
                0xA3, 0x04, 0x20,                  // mov [0x2004], ax
                0xF4);                             // hlt
        start(0x1000, 0x10000);
        try (EventFd eventFd = EventFd.create()) {
            vm.registerIoeventfd(0x12000, 2, eventFd, true, 7);
            assertEquals(ExitReason.MMIO, runWithDeadline(30_000));
            assertEquals(0x12000, vcpu.mmioAddress());
            assertEquals(0x1234, vcpu.mmioData());
            assertEquals(ExitReason.MMIO, runWithDeadline(30_000));
            assertEquals(0x12004, vcpu.mmioAddress());
            assertEquals(1, eventFd.consume());
            vm.unregisterIoeventfd(0x12000, 2, eventFd, true, 7);
        }
    }

    @Test
    void ioeventfdArgumentsAreChecked() throws Exception {
        try (EventFd eventFd = EventFd.create()) {
            assertThrows(IllegalArgumentException.class, () -> vm.registerIoeventfd(0x12000, 3, eventFd, true));
            assertThrows(IllegalArgumentException.class, () -> vm.registerIoeventfd(0x10000, 2, eventFd, false));
            vm.registerIoeventfd(0x12000, 4, eventFd, true);
            KvmException twice = assertThrows(KvmException.class, () -> vm.registerIoeventfd(0x12000, 4, eventFd, true));
            assertTrue(twice.getMessage().startsWith("KVM_IOEVENTFD(mmio 0x12000/4) failed: "), twice.getMessage());
        }
    }
}
