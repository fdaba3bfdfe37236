package dev.jvirt.vmm.interrupts;

import dev.jvirt.devices.pci.MsiVector;
import dev.jvirt.kvm.GsiRoute;
import dev.jvirt.kvm.IrqRouting;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KvmMsiVectorsTest {

    private static final long APIC0 = 0xFEE0_0000L;
    private static final long APIC1 = 0xFEE0_1000L;

    private final RecordingBackend kvm = new RecordingBackend();

    private static List<GsiRoute> legacyPlus(GsiRoute... msi) {
        List<GsiRoute> table = new ArrayList<>(IrqRouting.pcDefaults());
        table.addAll(List.of(msi));
        return table;
    }

    @Test
    void constructionInstallsTheLegacyTable() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        assertEquals(List.of(IrqRouting.pcDefaults()), kvm.tables, "one push, before any MSI: the table never changes under a booted guest");
        assertEquals(IrqRouting.pcDefaults(), vectors.routingTable());
    }

    @Test
    void programmedVectorsGetGsisFrom24AndOneTableWithEveryRoute() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        MsiVector first = vectors.allocate();
        MsiVector second = vectors.allocate();
        MsiVector unprogrammed = vectors.allocate();
        first.program(APIC0, 0x41);
        second.program(APIC1, 0x4042);

        assertEquals(legacyPlus(new GsiRoute.Msi(24, APIC0, 0x41), new GsiRoute.Msi(25, APIC1, 0x4042)), kvm.lastTable());
        assertEquals(kvm.lastTable(), vectors.routingTable());
        assertEquals(3, kvm.tables.size(), "legacy table, then one push per programmed vector");
        assertEquals(List.of(24, 25), kvm.irqfds.keySet().stream().sorted().toList());
        unprogrammed.trigger();
        assertTrue(kvm.signalled.isEmpty(), "an unprogrammed vector is silent");
    }

    @Test
    void triggerWritesTheIrqfdAndMakesNoIoctl() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        MsiVector vector = vectors.allocate();
        vector.program(APIC0, 0x41);
        int pushes = kvm.tables.size();
        vector.trigger();
        vector.trigger();
        assertEquals(2, kvm.irqfds.get(24).consume(), "each trigger is one eventfd signal, which KVM turns into the MSI");
        assertEquals(pushes, kvm.tables.size());
        assertTrue(kvm.signalled.isEmpty());
    }

    @Test
    void reprogrammingUpdatesTheRouteAndKeepsTheIrqfd() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        MsiVector vector = vectors.allocate();
        vector.program(APIC0, 0x41);
        var irqfd = kvm.irqfds.get(24);
        vector.program(APIC1, 0x51); // the guest moved the interrupt to another CPU
        assertEquals(legacyPlus(new GsiRoute.Msi(24, APIC1, 0x51)), kvm.lastTable());
        assertEquals(irqfd, kvm.irqfds.get(24));

        int pushes = kvm.tables.size();
        vector.program(APIC1, 0x51);
        assertEquals(pushes, kvm.tables.size(), "an unchanged message is not pushed again");
    }

    @Test
    void closedVectorFreesItsGsiForTheNextOne() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        MsiVector first = vectors.allocate();
        MsiVector second = vectors.allocate();
        first.program(APIC0, 0x41);
        second.program(APIC0, 0x42);
        var firstIrqfd = kvm.irqfds.get(24);

        first.close();
        assertFalse(kvm.irqfds.containsKey(24), "its irqfd is unbound");
        assertEquals(legacyPlus(new GsiRoute.Msi(25, APIC0, 0x42)), kvm.lastTable());
        assertFalse(firstIrqfd.signal(), "its eventfd is closed");
        first.trigger(); // a late trigger after close is harmless
        first.close();

        MsiVector third = vectors.allocate();
        third.program(APIC1, 0x43);
        assertEquals(legacyPlus(new GsiRoute.Msi(24, APIC1, 0x43), new GsiRoute.Msi(25, APIC0, 0x42)), kvm.lastTable());
    }

    @Test
    void addressOutsideTheInterruptWindowIsIgnored() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        MsiVector vector = vectors.allocate();
        vector.program(0x1000, 0x41);         // a DMA address, not an interrupt
        vector.program(0x1_FEE0_0000L, 0x41); // high half set: above 4 GiB, not the APIC window
        vector.trigger();
        assertEquals(1, kvm.tables.size(), "no route for a bogus message");
        assertTrue(kvm.irqfds.isEmpty());
        assertTrue(kvm.signalled.isEmpty());

        vector.program(APIC0, 0x41); // the guest fixes it
        assertEquals(legacyPlus(new GsiRoute.Msi(24, APIC0, 0x41)), kvm.lastTable());
    }

    @Test
    void vectorsBeyondTheLastGsiUseSignalMsi() throws Exception {
        kvm.maxRoutes = 26; // GSIs 24 and 25 only
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        vectors.allocate().program(APIC0, 0x41);
        vectors.allocate().program(APIC0, 0x42);
        MsiVector third = vectors.allocate();
        third.program(APIC1, 0x43);
        third.trigger();
        assertEquals(List.of("fee01000:43"), kvm.signalled);
        assertEquals(legacyPlus(new GsiRoute.Msi(24, APIC0, 0x41), new GsiRoute.Msi(25, APIC0, 0x42)), kvm.lastTable());
    }

    @Test
    void refusedRouteFallsBackToSignalMsi() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        kvm.refuseRouting = true;
        MsiVector vector = vectors.allocate();
        vector.program(APIC0, 0x41);
        vector.trigger();
        assertEquals(List.of("fee00000:41"), kvm.signalled);
        assertEquals(IrqRouting.pcDefaults(), vectors.routingTable());
    }

    @Test
    void refusedIrqfdFallsBackToSignalMsi() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        kvm.refuseIrqfd = true;
        MsiVector vector = vectors.allocate();
        vector.program(APIC0, 0x41);
        vector.trigger();
        assertEquals(List.of("fee00000:41"), kvm.signalled);
    }

    @Test
    void legacyRoutesMayNotUseMsiGsis() {
        List<GsiRoute> clash = List.of(new GsiRoute.Msi(24, APIC0, 0x41));
        assertThrows(IllegalArgumentException.class, () -> new KvmMsiVectors(kvm, clash));
    }

    @Test
    void closingTheAllocatorClosesEveryVector() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        vectors.allocate().program(APIC0, 0x41);
        vectors.allocate().program(APIC0, 0x42);
        vectors.close();
        assertTrue(kvm.irqfds.isEmpty());
        assertEquals(IrqRouting.pcDefaults(), kvm.lastTable());
    }

    @Test
    void concurrentProgrammingAndClosingKeepsGsisUniqueAndTheTableConsistent() throws Exception {
        KvmMsiVectors vectors = new KvmMsiVectors(kvm, IrqRouting.pcDefaults());
        int threads = 4;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        List<MsiVector> kept = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int t = 0; t < threads; t++) {
            int id = t;
            workers.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < 50; i++) {
                    MsiVector vector = vectors.allocate();
                    vector.program(APIC0, 0x40 + id);
                    vector.trigger();
                    if (i % 2 == 0) {
                        vector.close();
                    } else {
                        kept.add(vector);
                    }
                }
            }));
        }
        start.countDown();
        for (Thread worker : workers) {
            assertTrue(worker.join(java.time.Duration.ofSeconds(30)));
        }
        List<GsiRoute> msiRoutes = vectors.routingTable().stream().filter(r -> r instanceof GsiRoute.Msi).toList();
        assertEquals(kept.size(), msiRoutes.size());
        assertEquals(kept.size(), msiRoutes.stream().map(GsiRoute::gsi).distinct().count(), "no GSI shared");
        assertEquals(msiRoutes.stream().map(GsiRoute::gsi).sorted().toList(), kvm.irqfds.keySet().stream().sorted().toList());
        assertTrue(msiRoutes.stream().allMatch(r -> r.gsi() >= 24 && r.gsi() < 24 + kept.size()), "closed GSIs were reused");
        assertTrue(kvm.signalled.isEmpty());
    }
}
