package dev.jvirt.vmm.machine;

import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vcpu;
import dev.jvirt.kvm.Vm;
import dev.jvirt.vmm.boot.BootException;
import dev.jvirt.vmm.boot.KernelEntry;
import dev.jvirt.vmm.boot.LongModeSetup;
import dev.jvirt.vmm.boot.Pvh32Setup;
import dev.jvirt.vmm.cpu.VcpuPowerOnState;

import java.util.List;

/**
 * The in-place system reset (QEMU's qemu_system_reset): every part of the machine back to the
 * state {@link MachineBuilder} left it in, then the kernel loaded again, so the guest boots anew.
 * Guest RAM is not cleared (QEMU does not either); what boot reads from it is rewritten.
 * Runs with every vCPU parked (see {@link Machine#reset}); each part resets itself, this class
 * only knows the order.
 */
final class MachineReset {

    /** Loads the kernel, initrd, command line and boot tables into guest RAM, as at build. */
    @FunctionalInterface
    interface BootLoader {
        KernelEntry load() throws BootException;
    }

    private final Vm vm;
    private final List<Vcpu> vcpus;
    private final List<VcpuPowerOnState> vcpuPowerOn;
    private final Platform platform;
    private final VirtioDevices devices;
    private final BootLoader boot;
    /** The PICs' and the IOAPIC's state right after KVM_CREATE_IRQCHIP, and the PIT's after KVM_CREATE_PIT2. */
    private final List<byte[]> irqchipPowerOn;
    private final byte[] pitPowerOn;

    MachineReset(Vm vm, List<Vcpu> vcpus, List<VcpuPowerOnState> vcpuPowerOn, Platform platform, VirtioDevices devices,
                 BootLoader boot, List<byte[]> irqchipPowerOn, byte[] pitPowerOn) {
        this.vm = vm;
        this.vcpus = vcpus;
        this.vcpuPowerOn = vcpuPowerOn;
        this.platform = platform;
        this.devices = devices;
        this.boot = boot;
        this.irqchipPowerOn = irqchipPowerOn;
        this.pitPowerOn = pitPowerOn;
    }

    /** Call only while no vCPU runs. */
    void run() throws KvmException, BootException {
        // Devices first: they lower their interrupt lines and stop DMA before the irqchip and RAM change.
        platform.completePendingUnplugs();
        devices.reset();
        platform.reset(devices.plugged());
        // The interrupt controllers as created; MSI routes went with the MSI-X vectors above, so the
        // GSI routing table is back to the legacy routes installed at build.
        for (byte[] chip : irqchipPowerOn) {
            vm.setIrqchipState(chip);
        }
        vm.setPitState(pitPowerOn);

        KernelEntry entry = boot.load();
        for (int i = 0; i < vcpus.size(); i++) {
            Vcpu vcpu = vcpus.get(i);
            boolean bootProcessor = i == 0;
            vcpuPowerOn.get(i).restore(vcpu, bootProcessor);
            if (bootProcessor) {
                switch (entry.protocol()) {
                    case LINUX_64 -> LongModeSetup.configureBootVcpu(vcpu, entry);
                    case PVH -> Pvh32Setup.configureBootVcpu(vcpu, entry);
                }
            }
        }
    }
}
