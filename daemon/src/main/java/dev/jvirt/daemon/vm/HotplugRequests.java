package dev.jvirt.daemon.vm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jvirt.daemon.domain.DomainDevices;

import java.util.List;

/**
 * The QMP commands that hot-plug a device, as libvirt's qemu driver sends them: the back end
 * first ({@code blockdev-add} or {@code netdev_add}), then {@code device_add} of the virtio
 * function with the device's alias as its id. Back-end names carry a serial number, so a device
 * detached and attached again never reuses a name jvirt-vmm may still hold.
 */
final class HotplugRequests {

    /** One QMP command with its arguments. */
    record Request(String command, JsonNode arguments) { }

    private HotplugRequests() {
    }

    static List<Request> disk(DomainDevices.Disk disk, DeviceResources resources, int serial) throws VmStartException {
        String path = disk.file();
        String format = disk.format();
        if (disk.type().equals("volume")) {
            DeviceResources.VolumeSource source = resources.volume(disk.pool(), disk.volume());
            path = source.path().toString();
            format = format == null ? source.format() : format;
        }
        String node = "drive-" + disk.alias() + "-" + serial;
        ObjectNode blockdev = QmpClient.arguments().put("driver", format == null ? "raw" : format).put("node-name", node);
        blockdev.putObject("file").put("driver", "file").put("filename", path);
        blockdev.put("read-only", disk.readOnly());
        ObjectNode device = QmpClient.arguments().put("driver", "virtio-blk-pci").put("id", disk.alias()).put("drive", node);
        if (disk.serial() != null) {
            device.put("serial", disk.serial());
        }
        return List.of(new Request("blockdev-add", blockdev), new Request("device_add", device));
    }

    static List<Request> nic(DomainDevices.Nic nic, DeviceResources resources, int serial) throws VmStartException {
        String id = "host" + nic.alias() + "-" + serial;
        ObjectNode netdev = QmpClient.arguments().put("id", id).put("ifname", nic.targetDev());
        if (nic.type().equals("ethernet")) {
            netdev.put("type", "tap").put("script", "no");
        } else {
            netdev.put("type", "bridge").put("br", VmmCommand.bridge(nic, resources));
        }
        ObjectNode device = QmpClient.arguments().put("driver", "virtio-net-pci").put("id", nic.alias()).put("netdev", id)
                .put("mac", nic.mac());
        return List.of(new Request("netdev_add", netdev), new Request("device_add", device));
    }
}
