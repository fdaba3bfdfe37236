package dev.jvirt.daemon.vm;

import dev.jvirt.daemon.domain.DomainDefinition;
import dev.jvirt.daemon.domain.DomainDevices;
import dev.jvirt.daemon.domain.DomainXmlException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The jvirt-vmm command line for a domain's live definition (QEMU-style options, as libvirt
 * builds for QEMU): each disk a {@code -drive if=none} plus {@code -device virtio-blk-pci}, each
 * interface a {@code -netdev} plus {@code -device virtio-net-pci}, ids from the devices' aliases.
 */
final class VmmCommand {

    private static final Path HUGEPAGES = Path.of("/dev/hugepages");
    private static final java.util.Set<String> MODELS = java.util.Set.of("qemu64", "kvm64");

    private VmmCommand() {
    }

    private static String cpu(DomainDefinition definition) throws VmStartException {
        if (definition.hostCpu()) {
            return "host";
        }
        String model = definition.cpuModel();
        if (model == null) {
            return "qemu64";
        }
        if (!MODELS.contains(model)) {
            throw new VmStartException("CPU model '" + model + "' is not supported by jvirt-vmm (qemu64, kvm64, host-passthrough are)");
        }
        return model;
    }

    /** {@code paused}: start with the vCPUs stopped (-S), for virsh start --paused. */
    static List<String> build(Path vmm, DomainDefinition definition, Path qmpSocket, Path consoleLog, boolean paused,
            DeviceResources resources) throws VmStartException {
        DomainDefinition.Boot boot = definition.boot();
        if (boot.kernel() == null) {
            throw new VmStartException("domain '" + definition.name() + "' has no <os><kernel>: jvirt boots Linux directly"
                    + " (firmware and disk boot are not implemented yet)");
        }
        if (definition.currentVcpus() != definition.vcpus()) {
            throw new VmStartException("unsupported configuration: <vcpu current='" + definition.currentVcpus() + "'> differs from the "
                    + definition.vcpus() + " vCPUs of the domain (jvirt-vmm has no vCPU hot-plug: drop the current attribute)");
        }
        List<String> notRunnable = definition.notRunnableDevices();
        if (!notRunnable.isEmpty()) {
            throw new VmStartException("unsupported configuration: device <" + notRunnable.getFirst() + "> is not supported by jvirt-vmm"
                    + " (remove it from the definition to start the domain)");
        }
        List<String> command = new ArrayList<>();
        command.add(vmm.toString());
        command.addAll(List.of("-name", definition.name()));
        command.addAll(List.of("-m", Math.max(2, definition.memoryKiB() / 1024) + "M"));
        command.addAll(List.of("-smp", Integer.toString(definition.vcpus())));
        // jvirtd applies <on_reboot> itself when the process ends on a reset, as libvirt does with QEMU.
        command.add("-no-reboot");
        command.addAll(List.of("-cpu", cpu(definition)));
        if (definition.hugepages()) {
            if (!Files.isDirectory(HUGEPAGES)) {
                throw new VmStartException("domain '" + definition.name() + "' asks for hugepages, but " + HUGEPAGES
                        + " is not mounted (mount -t hugetlbfs none " + HUGEPAGES + ")");
            }
            command.addAll(List.of("-mem-path", HUGEPAGES.toString()));
        }
        command.addAll(List.of("-kernel", boot.kernel()));
        if (boot.initrd() != null) {
            command.addAll(List.of("-initrd", boot.initrd()));
        }
        if (boot.cmdline() != null) {
            command.addAll(List.of("-append", boot.cmdline()));
        }
        command.addAll(List.of("-serial", "file:" + consoleLog));
        devices(definition, resources, command);
        command.addAll(List.of("-qmp", "unix:" + qmpSocket + ",server,nowait"));
        if (paused) {
            command.add("-S");
        }
        return command;
    }

    private static void devices(DomainDefinition definition, DeviceResources resources, List<String> command) throws VmStartException {
        try {
            for (DomainDevices.Disk disk : definition.disks()) {
                command.addAll(List.of("-drive", drive(disk, resources), "-device", blockDevice(disk)));
            }
            for (DomainDevices.Nic nic : definition.interfaces()) {
                command.addAll(List.of("-netdev", netdev(nic, "host" + alias(nic.alias()), resources),
                        "-device", netDevice(nic, "host" + nic.alias())));
            }
            for (DomainDevices.Rng rng : definition.rngs()) {
                command.addAll(List.of("-device", "virtio-rng-pci,id=" + alias(rng.alias()) + addr(rng.slot())));
            }
            DomainDevices.Balloon balloon = definition.balloon();
            if (balloon != null) {
                command.addAll(List.of("-device", "virtio-balloon-pci,id=" + alias(balloon.alias()) + addr(balloon.slot())));
            }
        } catch (DomainXmlException e) {
            throw new VmStartException(e.getMessage());
        }
    }

    /** {@code -drive file=...,if=none,id=drive-ALIAS,...}: the image, its format (libvirt's default raw) and host options. */
    static String drive(DomainDevices.Disk disk, DeviceResources resources) throws VmStartException {
        Path file;
        String format = disk.format();
        if (disk.type().equals("volume")) {
            DeviceResources.VolumeSource source = resources.volume(disk.pool(), disk.volume());
            file = source.path();
            format = format == null ? source.format() : format;
        } else {
            file = Path.of(disk.file());
        }
        StringBuilder drive = new StringBuilder("file=").append(escape(file.toString()))
                .append(",if=none,id=drive-").append(alias(disk.alias()))
                .append(",format=").append(format == null ? "raw" : format);
        if (disk.cache() != null) {
            drive.append(",cache=").append(disk.cache());
        }
        if (disk.readOnly()) {
            drive.append(",readonly=on");
        }
        if (disk.discard() != null) {
            drive.append(",discard=").append(disk.discard());
        }
        return drive.toString();
    }

    static String blockDevice(DomainDevices.Disk disk) {
        return "virtio-blk-pci,drive=drive-" + disk.alias() + ",id=" + disk.alias()
                + (disk.serial() == null ? "" : ",serial=" + escape(disk.serial())) + addr(disk.slot());
    }

    /** A tap of the given name, put on the interface's bridge (bridge and network types) or left alone (ethernet). */
    static String netdev(DomainDevices.Nic nic, String id, DeviceResources resources) throws VmStartException {
        if (nic.type().equals("ethernet")) {
            return "tap,id=" + id + ",ifname=" + nic.targetDev() + ",script=no";
        }
        return "bridge,id=" + id + ",br=" + bridge(nic, resources) + ",ifname=" + nic.targetDev();
    }

    /** A host bridge as named, or the bridge of the (active) network. */
    static String bridge(DomainDevices.Nic nic, DeviceResources resources) throws VmStartException {
        return nic.type().equals("network") ? resources.networkBridge(nic.network()) : nic.bridge();
    }

    static String netDevice(DomainDevices.Nic nic, String netdevId) {
        return "virtio-net-pci,netdev=" + netdevId + ",id=" + nic.alias() + ",mac=" + nic.mac() + addr(nic.slot());
    }

    private static String addr(DomainDevices.PciSlot slot) {
        return slot == null ? "" : String.format(",addr=0x%x", slot.slot());
    }

    private static String alias(String alias) throws VmStartException {
        if (alias == null) {
            throw new VmStartException("internal error: device without an alias in the live definition");
        }
        return alias;
    }

    /** Commas are doubled in QEMU's option syntax. */
    private static String escape(String text) {
        return text.replace(",", ",,");
    }
}
