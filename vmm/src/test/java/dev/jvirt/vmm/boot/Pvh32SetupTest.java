package dev.jvirt.vmm.boot;

import dev.jvirt.kvm.Regs;
import dev.jvirt.kvm.Segment;
import dev.jvirt.kvm.Sregs;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.memory.MemoryBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The boot vCPU state for a PVH entry, as Xen's docs/misc/pvh.pandoc specifies it. */
class Pvh32SetupTest {

    private static final KernelEntry ENTRY = new KernelEntry(0x1000850, BootLayout.PVH_START_INFO, KernelEntry.Protocol.PVH);

    /** Starts from what KVM reports at reset: real mode, CD/NW set, a stale EFER/CR4 would be wrong. */
    private static Sregs resetState() {
        Sregs sregs = new Sregs();
        sregs.cr0 = 0x6000_0010L;
        sregs.cr3 = 0x1234_5000L;
        sregs.cr4 = 0x20;
        sregs.efer = 0x500;
        sregs.apicBase = 0xFEE0_0900L;
        sregs.cs.base = 0xFFFF_0000L;
        sregs.cs.selector = 0xF000;
        sregs.cs.limit = 0xFFFF;
        sregs.cs.l = true;
        return sregs;
    }

    @Test
    void protectedModeWithPagingOffAndFlat32BitSegments() {
        Sregs sregs = resetState();
        Pvh32Setup.applyTo(sregs);

        assertEquals(0x11, sregs.cr0, "CR0 = PE | ET: paging off, caches on");
        assertEquals(0, sregs.cr3);
        assertEquals(0, sregs.cr4);
        assertEquals(0, sregs.efer, "no long mode");
        assertEquals(0xFEE0_0900L, sregs.apicBase, "KVM's APIC base kept");

        assertFlat(sregs.cs, 0x08, 0xB);
        for (Segment data : new Segment[] {sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss}) {
            assertFlat(data, 0x10, 0x3);
        }
        assertEquals(0, sregs.tr.base);
        assertEquals(0x67, sregs.tr.limit);
        assertEquals(0xB, sregs.tr.type, "busy 32-bit TSS");
        assertEquals(0x18, sregs.tr.selector);
        assertTrue(sregs.tr.present);
        assertFalse(sregs.tr.s);
        assertFalse(sregs.tr.unusable);
        assertEquals(BootLayout.GDT, sregs.gdtBase);
        assertEquals(31, sregs.gdtLimit, "null, code, data, TSS");
    }

    @Test
    void entryInEipStartInfoInEbxInterruptsOff() {
        Regs regs = Pvh32Setup.registers(ENTRY);
        assertEquals(0x1000850, regs.rip);
        assertEquals(BootLayout.PVH_START_INFO, regs.rbx);
        assertEquals(0x2, regs.rflags);
    }

    /** What the guest finds in the GDT at each selector is what the hidden segment state says. */
    @Test
    void gdtInMemoryMatchesTheLoadedSegments() throws Exception {
        Sregs sregs = resetState();
        Pvh32Setup.applyTo(sregs);
        try (GuestMemory memory = GuestMemory.allocate(1 << 20, MemoryBackend.anonymous())) {
            Pvh32Setup.writeTables(memory);
            assertEquals(0, memory.readLong(BootLayout.GDT), "null descriptor");
            for (Segment segment : new Segment[] {sregs.cs, sregs.ds, sregs.ss, sregs.tr}) {
                long d = memory.readLong(sregs.gdtBase + segment.selector);
                long base = ((d >>> 16) & 0xFF_FFFFL) | ((d >>> 32) & 0xFF00_0000L);
                long rawLimit = (d & 0xFFFF) | ((d >>> 32) & 0xF_0000L);
                boolean granular = (d & (1L << 55)) != 0;
                long limit = granular ? (rawLimit << 12) | 0xFFF : rawLimit;
                assertEquals(segment.base, base, "base of " + segment);
                assertEquals(Integer.toUnsignedLong(segment.limit), limit, "limit of " + segment);
                assertEquals(segment.type, (int) (d >>> 40) & 0xF, "type of " + segment);
                assertEquals(segment.s, (d & (1L << 44)) != 0, "S of " + segment);
                assertEquals(segment.dpl, (int) (d >>> 45) & 3, "DPL of " + segment);
                assertEquals(segment.present, (d & (1L << 47)) != 0, "P of " + segment);
                assertEquals(segment.l, (d & (1L << 53)) != 0, "L of " + segment);
                assertEquals(segment.db, (d & (1L << 54)) != 0, "D/B of " + segment);
                assertEquals(segment.g, granular, "G of " + segment);
            }
            assertTrue(BootLayout.IDT >= BootLayout.GDT + sregs.gdtLimit + 1, "IDT after the GDT");
            assertEquals(0, memory.readLong(BootLayout.IDT), "empty IDT");
        }
    }

    private static void assertFlat(Segment segment, int selector, int type) {
        assertEquals(selector, segment.selector);
        assertEquals(0, segment.base);
        assertEquals(0xFFFF_FFFF, segment.limit);
        assertEquals(type, segment.type);
        assertTrue(segment.present);
        assertTrue(segment.s);
        assertEquals(0, segment.dpl);
        assertTrue(segment.db, "32-bit");
        assertFalse(segment.l, "not a long-mode segment");
        assertTrue(segment.g);
        assertFalse(segment.unusable);
    }
}
