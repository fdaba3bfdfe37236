package dev.jvirt.kvm;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IrqRoutingTest {

    private static List<GsiRoute> routesOf(List<GsiRoute> table, int gsi) {
        return table.stream().filter(r -> r.gsi() == gsi).toList();
    }

    @Test
    void kernelDefaultsAreWhatCreateIrqchipInstalls() {
        List<GsiRoute> table = IrqRouting.kernelDefaults();
        assertEquals(16 * 2 + 8, table.size());
        assertEquals(List.of(new GsiRoute.Irqchip(0, GsiRoute.IOAPIC, 0), new GsiRoute.Irqchip(0, GsiRoute.PIC_MASTER, 0)), routesOf(table, 0));
        assertEquals(List.of(new GsiRoute.Irqchip(4, GsiRoute.IOAPIC, 4), new GsiRoute.Irqchip(4, GsiRoute.PIC_MASTER, 4)), routesOf(table, 4));
        assertEquals(List.of(new GsiRoute.Irqchip(9, GsiRoute.IOAPIC, 9), new GsiRoute.Irqchip(9, GsiRoute.PIC_SLAVE, 1)), routesOf(table, 9));
        assertEquals(List.of(new GsiRoute.Irqchip(23, GsiRoute.IOAPIC, 23)), routesOf(table, 23));
        assertTrue(routesOf(table, 24).isEmpty());
    }

    @Test
    void pcDefaultsSendThePitToIoapicPin2AsTheMadtSays() {
        List<GsiRoute> table = IrqRouting.pcDefaults();
        assertEquals(List.of(new GsiRoute.Irqchip(0, GsiRoute.IOAPIC, 2), new GsiRoute.Irqchip(0, GsiRoute.PIC_MASTER, 0)), routesOf(table, 0));
        assertTrue(routesOf(table, 2).isEmpty(), "GSI 2 is the PIC cascade; IOAPIC pin 2 belongs to GSI 0");
        assertFalse(table.stream().anyMatch(r -> r instanceof GsiRoute.Irqchip c && c.irqchip() == GsiRoute.IOAPIC && c.pin() == 0));
        // The legacy devices' lines are unchanged: COM1 on 4, RTC on 8, SCI on 9.
        assertEquals(List.of(new GsiRoute.Irqchip(4, GsiRoute.IOAPIC, 4), new GsiRoute.Irqchip(4, GsiRoute.PIC_MASTER, 4)), routesOf(table, 4));
        assertEquals(List.of(new GsiRoute.Irqchip(8, GsiRoute.IOAPIC, 8), new GsiRoute.Irqchip(8, GsiRoute.PIC_SLAVE, 0)), routesOf(table, 8));
        assertEquals(List.of(new GsiRoute.Irqchip(9, GsiRoute.IOAPIC, 9), new GsiRoute.Irqchip(9, GsiRoute.PIC_SLAVE, 1)), routesOf(table, 9));
        for (int gsi = 16; gsi < 24; gsi++) {
            assertEquals(List.of(new GsiRoute.Irqchip(gsi, GsiRoute.IOAPIC, gsi)), routesOf(table, gsi));
        }
        IrqRouting.validate(table, 4096);
    }

    @Test
    void encodesStructKvmIrqRouting() {
        List<GsiRoute> routes = List.of(new GsiRoute.Irqchip(9, GsiRoute.PIC_SLAVE, 1),
                new GsiRoute.Msi(24, 0x1_FEE0_1000L, 0x4041));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment table = arena.allocate(IrqRouting.size(routes.size()), 8);
            IrqRouting.encode(routes, table);
            assertEquals(8 + 2 * 48, table.byteSize());
            assertEquals(2, table.get(JAVA_INT, 0));
            assertEquals(0, table.get(JAVA_INT, 4));
            // entry 0: gsi 9, KVM_IRQ_ROUTING_IRQCHIP, flags 0, pad, irqchip 1, pin 1
            assertEquals(9, table.get(JAVA_INT, 8));
            assertEquals(1, table.get(JAVA_INT, 12));
            assertEquals(0, table.get(JAVA_INT, 16));
            assertEquals(1, table.get(JAVA_INT, 24));
            assertEquals(1, table.get(JAVA_INT, 28));
            // entry 1: gsi 24, KVM_IRQ_ROUTING_MSI, address_lo, address_hi, data
            assertEquals(24, table.get(JAVA_INT, 56));
            assertEquals(2, table.get(JAVA_INT, 60));
            assertEquals(0xFEE0_1000, table.get(JAVA_INT, 72));
            assertEquals(1, table.get(JAVA_INT, 76));
            assertEquals(0x4041, table.get(JAVA_INT, 80));
        }
    }

    @Test
    void rejectsWhatKvmWouldRefuseWithAPlainEinval() {
        List<GsiRoute> twoIoapicPins = List.of(new GsiRoute.Irqchip(5, GsiRoute.IOAPIC, 5), new GsiRoute.Irqchip(5, GsiRoute.IOAPIC, 6));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> IrqRouting.validate(twoIoapicPins, 4096))
                .getMessage().contains("GSI 5 has two routes"));

        List<GsiRoute> msiAndPin = List.of(new GsiRoute.Msi(30, 0xFEE00000L, 0x30), new GsiRoute.Irqchip(30, GsiRoute.IOAPIC, 3));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> IrqRouting.validate(msiAndPin, 4096))
                .getMessage().contains("GSI 30 has both"));

        List<GsiRoute> beyond = List.of(new GsiRoute.Msi(4096, 0xFEE00000L, 0x30));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> IrqRouting.validate(beyond, 4096))
                .getMessage().contains("GSI 4096 is beyond"));

        List<GsiRoute> tooMany = new ArrayList<>();
        for (int gsi = 0; gsi < 64; gsi++) {
            tooMany.add(new GsiRoute.Msi(gsi, 0xFEE00000L, 0x30));
        }
        assertThrows(IllegalArgumentException.class, () -> IrqRouting.validate(tooMany, 64));
    }

    @Test
    void routesCheckTheirPins() {
        assertThrows(IllegalArgumentException.class, () -> new GsiRoute.Irqchip(3, GsiRoute.PIC_MASTER, 8));
        assertThrows(IllegalArgumentException.class, () -> new GsiRoute.Irqchip(3, GsiRoute.IOAPIC, 24));
        assertThrows(IllegalArgumentException.class, () -> new GsiRoute.Irqchip(3, 3, 0));
        assertThrows(IllegalArgumentException.class, () -> new GsiRoute.Msi(-1, 0xFEE00000L, 0));
    }
}
