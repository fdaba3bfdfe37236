package dev.jvirt.vmm.cpu;

import dev.jvirt.kvm.CpuidEntry;
import dev.jvirt.vmm.cli.UsageException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuidBuilderTest {

    private static final int AVX2 = 1 << 5;
    private static final int SSE4_2 = 1 << 20;
    private static final int HYPERVISOR = 1 << 31;
    /** kvmclock (bits 0 and 3), async PF (4), steal time (5), PV EOI (6), PV TLB flush (9), stable bit (24). */
    private static final int KVM_PV_FEATURES = 1 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 9 | 1 << 24;

    /** A host whose KVM supports SSE4.2, AVX2 and the topology leaves. */
    private static final List<CpuidEntry> HOST = List.of(
            new CpuidEntry(0, 0, 0, 0xD, 0x756e6547, 0x6c65746e, 0x49656e69),
            new CpuidEntry(1, 0, 0, 0x906EA, 0x00010800, SSE4_2 | HYPERVISOR | (1 << 27), 0x178BFBFF),
            new CpuidEntry(7, 0, 1, 0, AVX2, 0, 0),
            new CpuidEntry(0xB, 0, 1, 1, 2, 0x100, 0),
            new CpuidEntry(0x4000_0000, 0, 0, 0x4000_0001, 0x4b4d564b, 0x564b4d56, 0x4d),
            new CpuidEntry(0x4000_0001, 0, 0, KVM_PV_FEATURES, 0, 0, 0),
            new CpuidEntry(0x8000_0001, 0, 0, 0, 0, 1, (1 << 29) | (1 << 20)),
            new CpuidEntry(0x8000_0008, 0, 0, 0x3030, 0, 0, 0));

    private static CpuidEntry leaf(List<CpuidEntry> table, int function, int index) {
        return table.stream().filter(e -> e.function() == function && e.index() == index).findFirst().orElseThrow();
    }

    @Test
    void topologyGivesEachVcpuItsApicIdAndTheCount() throws UsageException {
        CpuidBuilder builder = CpuidBuilder.forModel("host", HOST, 4);
        List<CpuidEntry> cpu2 = builder.buildFor(2);
        assertEquals(2, leaf(cpu2, 1, 0).ebx() >>> 24, "initial APIC ID");
        assertEquals(4, (leaf(cpu2, 1, 0).ebx() >>> 16) & 0xFF, "logical processor count");
        assertEquals(4, leaf(cpu2, 0xB, 1).ebx() & 0xFFFF, "x2APIC core level count");
        assertEquals(2, leaf(cpu2, 0xB, 0).edx(), "x2APIC ID");
        assertEquals(3, leaf(cpu2, 0x8000_0008, 0).ecx() & 0xFF, "AMD NC = count - 1");
        assertTrue(cpu2.stream().anyMatch(e -> e.function() == 0x4000_0000), "KVM paravirt leaf kept (kvm-clock)");
    }

    @Test
    void qemu64HidesModernFeaturesAndPlusAddsThem() throws UsageException {
        List<CpuidEntry> plain = CpuidBuilder.forModel("qemu64", HOST, 1).buildFor(0);
        assertEquals(0, leaf(plain, 7, 0).ebx() & AVX2);
        assertEquals(0, leaf(plain, 1, 0).ecx() & SSE4_2);
        assertEquals(HYPERVISOR, leaf(plain, 1, 0).ecx() & HYPERVISOR);
        assertEquals(0, leaf(plain, 1, 0).ecx() & (1 << 27), "OSXSAVE is KVM's to maintain");
        assertTrue((leaf(plain, 0x8000_0001, 0).edx() & (1 << 29)) != 0, "long mode");

        List<CpuidEntry> tuned = CpuidBuilder.forModel("qemu64,+avx2,sse4.2=on,-nx", HOST, 1).buildFor(0);
        assertEquals(AVX2, leaf(tuned, 7, 0).ebx() & AVX2);
        assertEquals(SSE4_2, leaf(tuned, 1, 0).ecx() & SSE4_2);
        assertEquals(0, leaf(tuned, 0x8000_0001, 0).edx() & (1 << 20));
    }

    @Test
    void kvmParavirtFeaturesStayOnForEveryModelUntilTurnedOff() throws UsageException {
        for (String model : List.of("host", "qemu64")) {
            assertEquals(KVM_PV_FEATURES, leaf(CpuidBuilder.forModel(model, HOST, 1).buildFor(0), 0x4000_0001, 0).eax(), model);
        }
        int eax = leaf(CpuidBuilder.forModel("host,-kvm-steal-time,kvm-pv-tlb-flush=off", HOST, 1).buildFor(0), 0x4000_0001, 0).eax();
        assertEquals(KVM_PV_FEATURES & ~(1 << 5 | 1 << 9), eax);
        eax = leaf(CpuidBuilder.forModel("qemu64,-kvmclock", HOST, 1).buildFor(0), 0x4000_0001, 0).eax();
        assertEquals(0, eax & (1 | 1 << 3), "both kvm-clock MSR pairs hidden");
        assertEquals(1 << 24, eax & 1 << 24, "the rest kept");
        assertEquals("-cpu: feature 'kvm-pv-ipi' is not supported by this host's KVM",
                assertThrows(UsageException.class, () -> CpuidBuilder.forModel("host,+kvm-pv-ipi", HOST, 1)).getMessage());
    }

    @Test
    void badModelsAndFeaturesAreNamed() {
        assertEquals("-cpu: unknown CPU model 'pentium9' (known: host, max, qemu64, kvm64)",
                assertThrows(UsageException.class, () -> CpuidBuilder.forModel("pentium9", HOST, 1)).getMessage());
        assertEquals("-cpu: unknown CPU feature 'warp-drive'",
                assertThrows(UsageException.class, () -> CpuidBuilder.forModel("host,+warp-drive", HOST, 1)).getMessage());
        assertEquals("-cpu: feature 'avx512f' is not supported by this host's KVM",
                assertThrows(UsageException.class, () -> CpuidBuilder.forModel("qemu64,+avx512f", HOST, 1)).getMessage());
    }
}
