package dev.jvirt.vmm.qmp;

import dev.jvirt.vmm.machine.Machine;
import dev.jvirt.vmm.machine.RunState;
import dev.jvirt.vmm.machine.Termination;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The QMP commands jvirt-vmm implements, with the reply shapes QEMU gives. */
public final class QmpCommands {

    private final Map<String, QmpCommand> commands = new LinkedHashMap<>();

    public QmpCommands(Machine machine, String name) {
        commands.put("query-status", args -> {
            RunState state = machine.state();
            return Map.of("status", state.qmpName(), "running", state == RunState.RUNNING, "singlestep", false);
        });
        commands.put("stop", args -> {
            machine.pause();
            return Map.of();
        });
        commands.put("cont", args -> {
            if (machine.state() == RunState.SHUTDOWN || machine.state() == RunState.INTERNAL_ERROR) {
                throw QmpError.generic("the guest has shut down; it cannot continue");
            }
            machine.resume();
            return Map.of();
        });
        commands.put("system_powerdown", args -> {
            machine.powerButton();
            return Map.of();
        });
        commands.put("system_reset", args -> {
            // As QEMU: the reply comes at once, the RESET event once the machine was reset
            // (or SHUTDOWN, with -no-reboot).
            machine.reset(false);
            return Map.of();
        });
        commands.put("quit", args -> {
            machine.terminate(Termination.quit());
            return Map.of();
        });
        commands.put("query-version", args -> Map.of(
                "qemu", Map.of("major", 7, "minor", 2, "micro", 0),
                "package", "jvirt " + QmpCommands.class.getPackage().getImplementationVersion()));
        commands.put("query-name", args -> name == null ? Map.of() : Map.of("name", name));
        commands.put("query-kvm", args -> Map.of("enabled", true, "present", true));
        commands.put("query-cpus-fast", args -> {
            List<Map<String, Object>> cpus = new ArrayList<>();
            for (int i = 0; i < machine.cpuCount(); i++) {
                cpus.add(Map.of("cpu-index", i, "qom-path", "/machine/unattached/device[" + i + "]",
                        "thread-id", 0, "target", "x86_64",
                        "props", Map.of("core-id", i, "thread-id", 0, "socket-id", 0)));
            }
            return cpus;
        });
        commands.put("query-memory-size-summary", args -> Map.of("base-memory", machine.ramSize(), "plugged-memory", 0));
        DeviceQueries devices = new DeviceQueries(machine);
        commands.put("query-pci", args -> devices.queryPci());
        commands.put("query-block", args -> devices.queryBlock());
        HotplugCommands hotplug = new HotplugCommands(machine);
        commands.put("blockdev-add", hotplug::blockdevAdd);
        commands.put("netdev_add", hotplug::netdevAdd);
        commands.put("blockdev-del", hotplug::blockdevDel);
        commands.put("netdev_del", hotplug::netdevDel);
        commands.put("device_add", hotplug::deviceAdd);
        commands.put("device_del", hotplug::deviceDel);
        BalloonCommands balloon = new BalloonCommands(machine);
        commands.put("balloon", balloon::balloon);
        commands.put("query-balloon", args -> balloon.queryBalloon());
        commands.put("qom-get", balloon::qomGet);
        commands.put("qom-set", balloon::qomSet);
        commands.put("query-commands", args -> {
            List<Map<String, String>> names = new ArrayList<>();
            names.add(Map.of("name", "qmp_capabilities"));
            commands.keySet().forEach(command -> names.add(Map.of("name", command)));
            return names;
        });
    }

    public QmpCommand find(String name) {
        return commands.get(name);
    }
}
