package dev.jvirt.vmm.qmp;

import dev.jvirt.devices.pci.PciBar;
import dev.jvirt.devices.pci.PciBus;
import dev.jvirt.devices.pci.PciConfigSpace;
import dev.jvirt.devices.pci.PciDevice;
import dev.jvirt.virtio.blk.VirtioBlock;
import dev.jvirt.virtio.blk.VirtioBlockOptions;
import dev.jvirt.vmm.machine.Machine;
import dev.jvirt.vmm.machine.PluggedDevice;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** query-pci and query-block, in QEMU's reply shapes, read from the live bus and devices. */
final class DeviceQueries {

    private final Machine machine;

    DeviceQueries(Machine machine) {
        this.machine = machine;
    }

    List<Map<String, Object>> queryPci() {
        PciBus bus = machine.platform().pciBus();
        List<Map<String, Object>> devices = new ArrayList<>();
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            PciDevice device = bus.device(0, slot, 0);
            if (device != null) {
                devices.add(describe(slot, device));
            }
        }
        return List.of(Map.of("bus", 0, "devices", devices));
    }

    private Map<String, Object> describe(int slot, PciDevice device) {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("bus", 0);
        info.put("slot", slot);
        info.put("function", 0);
        int classCode = device.readConfig(PciConfigSpace.SUBCLASS, 2);
        info.put("class_info", Map.of("class", classCode, "desc", describeClass(classCode)));
        info.put("id", Map.of(
                "vendor", device.readConfig(PciConfigSpace.VENDOR_ID, 2),
                "device", device.readConfig(PciConfigSpace.DEVICE_ID, 2),
                "subsystem-vendor", device.readConfig(PciConfigSpace.SUBSYSTEM_VENDOR_ID, 2),
                "subsystem", device.readConfig(PciConfigSpace.SUBSYSTEM_ID, 2)));
        int pin = device.readConfig(PciConfigSpace.INTERRUPT_PIN, 1);
        if (pin != 0) {
            info.put("irq", device.readConfig(PciConfigSpace.INTERRUPT_LINE, 1));
            info.put("irq_pin", pin);
        }
        info.put("qdev_id", plugged(slot) == null ? "" : plugged(slot).id());
        List<Map<String, Object>> regions = new ArrayList<>();
        for (PciBar bar : device.bars()) {
            Map<String, Object> region = new LinkedHashMap<>();
            region.put("bar", bar.index());
            region.put("type", bar.kind() == PciBar.Kind.IO ? "io" : "memory");
            region.put("address", device.barAddress(bar.index()));
            region.put("size", bar.size());
            if (bar.kind() != PciBar.Kind.IO) {
                region.put("prefetch", bar.prefetchable());
                region.put("mem_type_64", bar.kind() == PciBar.Kind.MEMORY64);
            }
            regions.add(region);
        }
        info.put("regions", regions);
        return info;
    }

    private PluggedDevice plugged(int slot) {
        for (PluggedDevice device : machine.devices()) {
            if (device.slot() == slot) {
                return device;
            }
        }
        return null;
    }

    private static String describeClass(int classCode) {
        return switch (classCode) {
            case 0x0600 -> "Host bridge";
            case 0x0100 -> "SCSI controller";
            case 0x0200 -> "Ethernet controller";
            case 0x0780 -> "Communication controller";
            default -> "Class " + String.format("%04x", classCode);
        };
    }

    List<Map<String, Object>> queryBlock() {
        List<Map<String, Object>> drives = new ArrayList<>();
        for (PluggedDevice plugged : machine.devices()) {
            if (!(plugged.device() instanceof VirtioBlock block)) {
                continue;
            }
            VirtioBlockOptions options = block.options();
            Map<String, Object> image = new LinkedHashMap<>();
            image.put("filename", options.path().toString());
            image.put("format", block.disk().format());
            image.put("virtual-size", block.disk().size());
            Map<String, Object> inserted = new LinkedHashMap<>();
            inserted.put("file", options.path().toString());
            inserted.put("node-name", plugged.id());
            inserted.put("ro", options.readOnly());
            inserted.put("drv", block.disk().format());
            inserted.put("encrypted", false);
            inserted.put("detect_zeroes", "off");
            inserted.put("cache", Map.of(
                    "writeback", options.cache().writeCache(),
                    "direct", options.cache().direct(),
                    "no-flush", options.cache().noFlush()));
            inserted.put("image", image);
            Map<String, Object> drive = new LinkedHashMap<>();
            drive.put("device", plugged.id());
            drive.put("qdev", "/machine/peripheral/" + plugged.id() + "/virtio-backend");
            drive.put("locked", false);
            drive.put("removable", false);
            drive.put("type", "unknown");
            drive.put("io-status", "ok");
            drive.put("inserted", inserted);
            drives.add(drive);
        }
        return drives;
    }
}
