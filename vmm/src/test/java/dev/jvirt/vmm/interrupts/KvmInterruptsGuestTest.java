package dev.jvirt.vmm.interrupts;

import dev.jvirt.devices.pci.MsiVector;
import dev.jvirt.kvm.ExitReason;
import dev.jvirt.virtio.pci.NotifyRouter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The plumbing on /dev/kvm, observed from a real-mode guest: which vectors it takes, which writes exit. */
class KvmInterruptsGuestTest {

    private static final long APIC0 = 0xFEE0_0000L;
    private static final long IOAPIC = 0xFEC0_0000L;
    private static final long DEADLINE_MILLIS = 30_000;

    private RealModeGuest guest;

    @BeforeAll
    static void needKvm() {
        assumeTrue(RealModeGuest.kvmAvailable(), "/dev/kvm not accessible");
    }

    @BeforeEach
    void createGuest() throws Exception {
        guest = new RealModeGuest();
    }

    @AfterEach
    void closeGuest() {
        guest.close();
    }

    /** Runs the guest up to its ready exit: the IOAPIC is programmed, interrupts not yet enabled. */
    private void runUntilReady() throws Exception {
        assertEquals(ExitReason.IO, guest.run(DEADLINE_MILLIS));
        assertEquals(RealModeGuest.READY_PORT, guest.vcpu.ioPort());
    }

    private void assertGuestTook(int vector) throws Exception {
        int reason = guest.run(DEADLINE_MILLIS);
        assertEquals(ExitReason.IO, reason, "the guest took no interrupt (exit " + reason + ")");
        assertEquals(RealModeGuest.REPORT_PORT, guest.vcpu.ioPort());
        assertEquals(vector, guest.vcpu.ioData(0));
    }

    @Test
    void triggeredVectorInterruptsTheGuestWithItsProgrammedVector() throws Exception {
        guest.start(0, RealModeGuest.haltWithInterrupts());
        try (KvmMsiVectors vectors = new KvmMsiVectors(guest.vm)) {
            MsiVector unused = vectors.allocate();
            MsiVector vector = vectors.allocate();
            unused.program(APIC0, 0x40);
            vector.program(APIC0, 0x42);
            runUntilReady();
            vector.trigger();
            assertGuestTook(0x42);

            vector.program(APIC0, 0x43); // the guest rewrote the MSI-X entry
            vector.trigger();
            assertGuestTook(0x43);
        }
    }

    @Test
    void reusedGsiCarriesTheNewVectorsMessage() throws Exception {
        guest.start(0, RealModeGuest.haltWithInterrupts());
        try (KvmMsiVectors vectors = new KvmMsiVectors(guest.vm)) {
            MsiVector first = vectors.allocate();
            first.program(APIC0, 0x40);
            first.close();
            MsiVector second = vectors.allocate();
            second.program(APIC0, 0x41);
            runUntilReady();
            first.trigger(); // closed: silent
            second.trigger();
            assertGuestTook(0x41);
        }
    }

    /**
     * Real mode with DS at the IOAPIC: select redirection entry {@code pin} and write vector 0x40
     * (fixed, edge, unmasked, destination APIC 0) into its low half.
     */
    private static int[] programIoapicPin(int pin) {
        int select = 0x10 + 2 * pin;
        return new int[] {
            0x66, 0xC7, 0x06, 0x00, 0x00, select, 0x00, 0x00, 0x00,   // mov dword [0x00], select (IOREGSEL)
            0x66, 0xC7, 0x06, 0x10, 0x00, 0x40, 0x00, 0x00, 0x00,     // mov dword [0x10], 0x40   (IOWIN)
        };
    }

    @Test
    void legacyLinesStillReachTheIoapicOnceMsiRoutesAreInstalled() throws Exception {
        guest.start(IOAPIC, RealModeGuest.haltWithInterrupts(programIoapicPin(4)));
        try (KvmMsiVectors vectors = new KvmMsiVectors(guest.vm)) {
            vectors.allocate().program(APIC0, 0x42);
            runUntilReady(); // an edge while the IOAPIC entry is still masked would be lost
            guest.vm.setIrqLine(4, true); // COM1's line
            assertGuestTook(0x40);
            guest.vm.setIrqLine(4, false);
        }
    }

    @Test
    void gsiZeroArrivesOnIoapicPin2AsTheMadtOverrideSays() throws Exception {
        guest.start(IOAPIC, RealModeGuest.haltWithInterrupts(programIoapicPin(2)));
        try (KvmMsiVectors vectors = new KvmMsiVectors(guest.vm)) {
            runUntilReady();
            guest.vm.setIrqLine(0, true); // where KVM's PIT interrupts
            assertGuestTook(0x40);
            guest.vm.setIrqLine(0, false);
        }
    }

    @Test
    void notifyWriteKicksOnTheIoeventfdThreadWithoutAnExit() throws Exception {
        long dataSegment = 0x10000; // just past RAM: all MMIO
        guest.start(dataSegment,
                0xB8, 0x01, 0x00,                 // start: mov ax, 1 (queue index)
                0xA3, 0x00, 0x20,                 // mov [0x2000], ax   (0x12000: routed notify address)
                0xA3, 0x04, 0x20,                 // mov [0x2004], ax   (0x12004: not routed)
                0xEB, 0xF5);                      // jmp start
        BlockingQueue<String> kicks = new LinkedBlockingQueue<>();
        try (KvmNotifyRouter router = new KvmNotifyRouter(guest.vm)) {
            NotifyRouter.Route route = router.route(0x12000, 2, () -> kicks.add(Thread.currentThread().getName()));
            assertNotNull(route);

            assertEquals(ExitReason.MMIO, guest.run(DEADLINE_MILLIS));
            assertEquals(0x12004, guest.vcpu.mmioAddress(), "the notify write did not exit");
            assertEquals(KvmNotifyRouter.THREAD_NAME, kicks.poll(DEADLINE_MILLIS, TimeUnit.MILLISECONDS));

            route.close();
            assertEquals(ExitReason.MMIO, guest.run(DEADLINE_MILLIS));
            assertEquals(0x12000, guest.vcpu.mmioAddress(), "closed: the notify write exits to the transport again");
            assertNull(kicks.poll(200, TimeUnit.MILLISECONDS));
        }
    }
}
