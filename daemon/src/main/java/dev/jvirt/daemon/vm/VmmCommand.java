package dev.jvirt.daemon.vm;

import dev.jvirt.daemon.domain.DomainDefinition;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The jvirt-vmm command line for a domain definition (QEMU-style options, as libvirt builds for QEMU). */
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
    static List<String> build(Path vmm, DomainDefinition definition, Path qmpSocket, Path consoleLog, boolean paused) throws VmStartException {
        DomainDefinition.Boot boot = definition.boot();
        if (boot.kernel() == null) {
            throw new VmStartException("domain '" + definition.name() + "' has no <os><kernel>: jvirt boots Linux directly"
                    + " (firmware and disk boot need virtio-blk, which is not implemented yet)");
        }
        if (definition.hasUnsupportedDevices()) {
            throw new VmStartException("domain '" + definition.name() + "' has disk or network devices, which need virtio"
                    + " (not implemented yet)");
        }
        List<String> command = new ArrayList<>();
        command.add(vmm.toString());
        command.addAll(List.of("-name", definition.name()));
        command.addAll(List.of("-m", Math.max(2, definition.memoryKiB() / 1024) + "M"));
        command.addAll(List.of("-smp", Integer.toString(definition.vcpus())));
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
        command.addAll(List.of("-qmp", "unix:" + qmpSocket + ",server,nowait"));
        if (paused) {
            command.add("-S");
        }
        return command;
    }
}
