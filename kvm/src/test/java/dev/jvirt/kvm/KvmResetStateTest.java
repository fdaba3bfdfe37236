package dev.jvirt.kvm;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The opaque state blobs a machine reset puts back: irqchip, PIT, LAPIC, vCPU events, MP state. */
class KvmResetStateTest {

    @BeforeAll
    static void needKvm() {
        assumeTrue(Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm")), "/dev/kvm not accessible");
    }

    @Test
    void irqchipAndPitStatesRoundTrip() throws Exception {
        try (Kvm kvm = Kvm.open("/dev/kvm"); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            vm.createPit2();
            for (int chip : new int[] {Vm.PIC_MASTER, Vm.PIC_SLAVE, Vm.IOAPIC}) {
                byte[] state = vm.irqchipState(chip);
                assertEquals(chip, state[0], "the chip id leads the state");
                vm.setIrqchipState(state);
                assertArrayEquals(state, vm.irqchipState(chip));
            }
            byte[] pit = vm.pitState();
            vm.setPitState(pit);
            assertEquals(112, vm.pitState().length);
            assertThrows(IllegalArgumentException.class, () -> vm.setPitState(new byte[3]));
        }
    }

    @Test
    void vcpuLapicEventsAndMpStateCanBeSet() throws Exception {
        try (Kvm kvm = Kvm.open("/dev/kvm"); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            try (Vcpu boot = vm.createVcpu(0); Vcpu ap = vm.createVcpu(1)) {
                byte[] lapic = boot.getLapic();
                boot.setLapic(lapic);
                assertArrayEquals(lapic, boot.getLapic());
                boot.setEvents(boot.getEvents());
                boot.setMpState(Vcpu.MP_STATE_RUNNABLE);
                ap.setMpState(Vcpu.MP_STATE_UNINITIALIZED);
            }
        }
    }
}
