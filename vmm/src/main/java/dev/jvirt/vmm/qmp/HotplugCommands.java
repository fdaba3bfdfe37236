package dev.jvirt.vmm.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvirt.vmm.cli.DeviceSpec;
import dev.jvirt.vmm.cli.DeviceSpecs;
import dev.jvirt.vmm.cli.UsageException;
import dev.jvirt.vmm.machine.Machine;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Device hot-plug as libvirt drives it: {@code blockdev-add} or {@code netdev_add} defines the
 * back end, {@code device_add} plugs the virtio function (the guest learns of it through ACPI),
 * {@code device_del} asks the guest to release it and DEVICE_DELETED says it did. Arguments go
 * through the same checks as the command line's {@code -drive}/{@code -netdev}/{@code -device}.
 */
final class HotplugCommands {

    private final Machine machine;
    private final DeviceSpecs specs = new DeviceSpecs();
    /** Which device_add id uses each back end ("drive:NODE", "netdev:ID"), so a back end in use is not deleted. */
    private final Map<String, String> frontEnds = new java.util.HashMap<>();

    HotplugCommands(Machine machine) {
        this.machine = machine;
    }

    /** blockdev-add {driver: qcow2|raw, node-name, file: {driver: file, filename} or a filename, read-only}. */
    synchronized Object blockdevAdd(JsonNode args) throws QmpError {
        String format = args.path("driver").asText("");
        String node = args.path("node-name").asText("");
        JsonNode file = args.path("file");
        String filename = file.isTextual() ? file.asText() : file.path("filename").asText("");
        if (node.isEmpty() || filename.isEmpty()) {
            throw QmpError.generic("blockdev-add needs node-name and file.filename");
        }
        if (format.equals("file")) {
            format = "raw";
        }
        String drive = "file=" + escape(filename) + ",if=none,id=" + escape(node) + ",format=" + escape(format)
                + (args.path("read-only").asBoolean(false) ? ",readonly=on" : "");
        try {
            specs.drive(drive);
        } catch (UsageException e) {
            throw QmpError.generic(e.getMessage());
        }
        return Map.of();
    }

    /** netdev_add {type: tap|bridge, id, ifname, br, script}. */
    synchronized Object netdevAdd(JsonNode args) throws QmpError {
        try {
            specs.netdev(options(args, "type"));
        } catch (UsageException e) {
            throw QmpError.generic(e.getMessage());
        }
        return Map.of();
    }

    synchronized Object deviceAdd(JsonNode args) throws QmpError {
        if (!args.hasNonNull("id")) {
            throw QmpError.generic("device_add needs an id, so device_del can name the device later");
        }
        List<DeviceSpec> added;
        try {
            specs.device(options(args, "driver"));
            added = specs.takeAdded();
        } catch (UsageException e) {
            throw QmpError.generic(e.getMessage());
        }
        if (added.size() != 1) {
            throw QmpError.generic("device '" + args.path("driver").asText() + "' cannot be hot-plugged");
        }
        try {
            machine.hotplug(added.getFirst());
        } catch (IOException | RuntimeException e) {
            throw QmpError.generic(e.getMessage());
        }
        String id = args.get("id").asText();
        if (args.hasNonNull("drive")) {
            frontEnds.put("drive:" + args.get("drive").asText(), id);
        }
        if (args.hasNonNull("netdev")) {
            frontEnds.put("netdev:" + args.get("netdev").asText(), id);
        }
        return Map.of();
    }

    /** blockdev-del {node-name}: after device_del has finished with it, as libvirt does. */
    synchronized Object blockdevDel(JsonNode args) throws QmpError {
        String node = args.path("node-name").asText("");
        removeBackend("drive", node, "Failed to find node with node-name='" + node + "'");
        return Map.of();
    }

    /** netdev_del {id}: closes nothing itself; the tap went with its device. */
    synchronized Object netdevDel(JsonNode args) throws QmpError {
        String id = args.path("id").asText("");
        removeBackend("netdev", id, "Device '" + id + "' not found");
        return Map.of();
    }

    private void removeBackend(String kind, String id, String notFound) throws QmpError {
        String user = frontEnds.get(kind + ":" + id);
        if (user != null && machine.devices().stream().anyMatch(device -> device.id().equals(user))) {
            throw QmpError.generic((kind.equals("drive") ? "Node '" : "Netdev '") + id + "' is busy: device '" + user
                    + "' still uses it (device_del it and wait for DEVICE_DELETED)");
        }
        if (!specs.removeBackend(kind, id)) {
            throw QmpError.generic(notFound);
        }
        frontEnds.remove(kind + ":" + id);
    }

    Object deviceDel(JsonNode args) throws QmpError {
        String id = args.path("id").asText("");
        try {
            machine.unplug(id);
        } catch (IOException e) {
            throw new QmpError("DeviceNotFound", e.getMessage());
        } catch (RuntimeException e) {
            throw QmpError.generic(e.getMessage());
        }
        return Map.of();
    }

    /** QMP's flat arguments as QEMU's key=value option text, {@code first} leading. */
    private static String options(JsonNode args, String first) throws QmpError {
        if (!args.hasNonNull(first)) {
            throw QmpError.generic("Parameter '" + first + "' is missing");
        }
        List<String> items = new ArrayList<>();
        items.add(escape(args.get(first).asText()));
        for (Iterator<Map.Entry<String, JsonNode>> fields = args.fields(); fields.hasNext(); ) {
            Map.Entry<String, JsonNode> field = fields.next();
            if (field.getKey().equals(first)) {
                continue;
            }
            if (field.getValue().isContainerNode()) {
                throw QmpError.generic("Parameter '" + field.getKey() + "' must be a string, number or boolean");
            }
            String value = field.getValue().isBoolean() ? (field.getValue().asBoolean() ? "on" : "off") : field.getValue().asText();
            items.add(escape(field.getKey()) + "=" + escape(value));
        }
        return String.join(",", items);
    }

    /** Commas are doubled in QEMU's option syntax. */
    private static String escape(String text) {
        return text.replace(",", ",,");
    }
}
