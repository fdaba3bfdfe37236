package dev.jvirt.vmm.machine;

import dev.jvirt.devices.bus.MmioBus;
import dev.jvirt.devices.bus.PortIoBus;
import dev.jvirt.kvm.CpuidEntry;
import dev.jvirt.kvm.Kvm;
import dev.jvirt.kvm.Vcpu;
import dev.jvirt.kvm.Vm;
import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;
import dev.jvirt.memory.E820Map;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.memory.GuestRegion;
import dev.jvirt.memory.MemoryBackend;
import dev.jvirt.vmm.boot.BootException;
import dev.jvirt.vmm.boot.BootLayout;
import dev.jvirt.vmm.boot.KernelEntry;
import dev.jvirt.vmm.boot.LinuxLoader;
import dev.jvirt.vmm.boot.LongModeSetup;
import dev.jvirt.vmm.boot.Pvh32Setup;
import dev.jvirt.vmm.cli.UsageException;
import dev.jvirt.vmm.cli.VmmOptions;
import dev.jvirt.vmm.cpu.CpuidBuilder;
import dev.jvirt.vmm.cpu.VcpuPowerOnState;
import dev.jvirt.vmm.cpu.VcpuSetup;
import dev.jvirt.vmm.interrupts.KvmMsiVectors;
import dev.jvirt.vmm.interrupts.KvmNotifyRouter;
import dev.jvirt.virtio.pci.NotifyRouter;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds a {@link Machine} from the command line: KVM VM with in-kernel irqchip and PIT, guest RAM,
 * the platform devices and ACPI tables, the kernel loaded per the boot protocol, and vCPUs with
 * CPUID, MSRs and LAPIC set up. Anything wrong with the inputs fails here, before a vCPU runs.
 */
public final class MachineBuilder {

    private MachineBuilder() {
    }

    public static Machine build(VmmOptions options, OutputStream console) throws NativeException, IOException,
            BootException, UsageException {
        Kvm kvm;
        try {
            kvm = Kvm.open(options.kvmDevice);
        } catch (NativeException | Kvm.UnsupportedKvmException e) {
            throw new IOException("could not access KVM (" + options.kvmDevice + "): "
                    + e.getMessage().replace("open " + options.kvmDevice + " failed: ", ""), e);
        }
        BootTrace.phase("/dev/kvm open");
        List<CpuidEntry> supportedCpuid = kvm.supportedCpuid();
        CpuidBuilder cpuid = CpuidBuilder.forModel(options.cpuModel, supportedCpuid, options.cpus);

        Vm vm = kvm.createVm();
        vm.setTssAddress(BootLayout.KVM_TSS);
        vm.setIdentityMapAddress(BootLayout.KVM_IDENTITY_MAP);
        vm.createIrqchip();
        vm.createPit2();
        // Their state as created is the power-on state a reset puts back.
        List<byte[]> irqchipPowerOn = List.of(vm.irqchipState(Vm.PIC_MASTER), vm.irqchipState(Vm.PIC_SLAVE),
                vm.irqchipState(Vm.IOAPIC));
        byte[] pitPowerOn = vm.pitState();
        // The PC's GSI routing (ISA IRQ 0 on IOAPIC pin 2, as the MADT says) plus MSI routes later;
        // installed before any vCPU runs so the table never changes under a booting guest's timer.
        KvmMsiVectors msiVectors = new KvmMsiVectors(vm);

        BootTrace.phase("VM, irqchip and PIT created");
        GuestMemory memory = GuestMemory.allocate(options.memoryBytes, new MemoryBackend(options.memPath, options.memMerge));
        int slot = 0;
        for (GuestRegion region : memory.regions()) {
            vm.setUserMemoryRegion(slot++, region.guestBase(), region.host(), false);
        }

        BootTrace.phase("guest RAM mapped");
        PortIoBus ports = new PortIoBus();
        MmioBus mmio = new MmioBus();
        Platform platform = Platform.install(vm, memory, ports, mmio, options.cpus, console);
        VirtioDevices devices = new VirtioDevices(platform, memory, msiVectors, notifyRouter(vm));
        try {
            devices.plugAll(options.devices);
        } catch (IOException | RuntimeException e) {
            devices.close();
            throw e;
        }

        BootTrace.phase("platform devices, ACPI tables and virtio devices ready");
        E820Map e820 = new E820Map()
                .add(0, BootLayout.EBDA, E820Map.RAM)
                .add(BootLayout.EBDA, BootLayout.HIGH_MEMORY - BootLayout.EBDA, E820Map.RESERVED)
                .add(BootLayout.HIGH_MEMORY, memory.lowRamEnd() - BootLayout.HIGH_MEMORY, E820Map.RAM);
        if (memory.regions().size() > 1) {
            GuestRegion high = memory.regions().get(1);
            e820.add(high.guestBase(), high.size(), E820Map.RAM);
        }
        LinuxLoader.BootFiles bootFiles = LinuxLoader.read(options.kernel, options.initrd, options.append);
        long rsdp = platform.rsdpAddress();
        MachineReset.BootLoader boot = () -> {
            KernelEntry loaded = LinuxLoader.load(memory, bootFiles, e820, rsdp);
            switch (loaded.protocol()) {
                case LINUX_64 -> LongModeSetup.writeTables(memory);
                case PVH -> Pvh32Setup.writeTables(memory);
            }
            return loaded;
        };
        KernelEntry entry = boot.load();
        BootTrace.phase("kernel and initrd read and loaded");

        // SIGUSR1 interrupts KVM_RUN when the machine pauses (see VcpuGate).
        Libc.installNoOpHandler(Libc.SIGUSR1);
        List<Vcpu> vcpus = new ArrayList<>();
        List<VcpuPowerOnState> powerOn = new ArrayList<>();
        for (int id = 0; id < options.cpus; id++) {
            Vcpu vcpu = vm.createVcpu(id);
            vcpu.setCpuid(cpuid.buildFor(id));
            VcpuSetup.configure(vcpu);
            powerOn.add(VcpuPowerOnState.capture(vcpu));
            if (id == 0) {
                switch (entry.protocol()) {
                    case LINUX_64 -> LongModeSetup.configureBootVcpu(vcpu, entry);
                    case PVH -> Pvh32Setup.configureBootVcpu(vcpu, entry);
                }
            }
            vcpus.add(vcpu);
        }
        BootTrace.phase("vCPUs created and set up");
        MachineReset reset = new MachineReset(vm, vcpus, powerOn, platform, devices, boot, irqchipPowerOn, pitPowerOn);
        return new Machine(kvm, vm, memory, vcpus, ports, mmio, platform, devices, reset, options.startPaused,
                options.noReboot);
    }

    /** Queue kicks through ioeventfds; without them (an old KVM) kicks stay MMIO exits, slower but correct. */
    private static NotifyRouter notifyRouter(Vm vm) {
        try {
            return new KvmNotifyRouter(vm);
        } catch (NativeException e) {
            System.err.println("jvirt-vmm: " + e.getMessage() + "; virtio queue kicks will exit to the VMM");
            return NotifyRouter.NONE;
        }
    }
}
