package dev.jvirt.vmm.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Everything the command line asked for, validated for form but not yet for content. */
public final class VmmOptions {

    /** Where the guest console goes: stdio, nowhere, or a file. */
    public enum SerialTarget { STDIO, NONE, FILE }

    public record QmpEndpoint(Path socket, boolean waitForClient) { }

    public String name = null;
    /** QEMU's default: 128 MiB. */
    public long memoryBytes = 128L << 20;
    public int cpus = 1;
    public String cpuModel = "qemu64";
    public Path kernel;
    public Path initrd;
    public String append = "";
    public SerialTarget serial = null;
    public Path serialFile;
    public boolean nographic;
    public final List<QmpEndpoint> qmp = new ArrayList<>();
    public Path memPath;
    public boolean memMerge;
    public String kvmDevice = "/dev/kvm";
    /** Start with the vCPUs stopped ({@code -S}), waiting for QMP {@code cont}. */
    public boolean startPaused;
    /** {@code -no-reboot}: a reset (guest or QMP system_reset) ends the process with status 0 instead of rebooting. */
    public boolean noReboot;
    /** The virtio PCI devices, back ends joined to front ends, in command-line order. */
    public List<DeviceSpec> devices = List.of();

    public boolean hasStdioVirtconsole() {
        return devices.stream().anyMatch(d -> d instanceof DeviceSpec.Console c && c.backend() == DeviceSpec.ConsoleBackend.STDIO);
    }

    public SerialTarget effectiveSerial() {
        if (serial != null) {
            return serial;
        }
        return nographic ? SerialTarget.STDIO : SerialTarget.NONE;
    }
}
