package dev.jvirt.vmm.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Joins QEMU's device options into {@link DeviceSpec}s: {@code -drive}, {@code -netdev},
 * {@code -chardev} define back ends by id; {@code -device} creates the front end that uses one;
 * {@code -drive if=virtio} and the older {@code -net nic,model=virtio -net tap,...} pair create
 * both at once. Every cross reference is checked here, so a typo fails before the VM is built.
 */
public final class DeviceSpecs {

    private static final Set<String> DRIVE_KEYS = Set.of("file", "if", "format", "id", "cache", "readonly", "serial",
            "discard", "media", "index", "aio", "werror", "rerror", "detect-zeroes", "cache.direct", "cache.no-flush");
    private static final Set<String> NETDEV_KEYS = Set.of("type", "id", "ifname", "script", "downscript", "br", "vhost",
            "helper", "queues", "vnet_hdr");
    private static final Set<String> CHARDEV_KEYS = Set.of("backend", "id", "path", "signal", "mux", "logfile");

    private final Map<String, KeyValueOptions> drives = new HashMap<>();
    private final Map<String, KeyValueOptions> netdevs = new HashMap<>();
    private final Map<String, KeyValueOptions> chardevs = new HashMap<>();
    private final Set<String> usedBackends = new HashSet<>();
    private final List<DeviceSpec> specs = new ArrayList<>();
    private final List<KeyValueOptions> legacyNics = new ArrayList<>();
    private final List<KeyValueOptions> legacyTaps = new ArrayList<>();
    private boolean haveSerialBus;
    private int anonymous;

    public void drive(String text) throws UsageException {
        KeyValueOptions drive = KeyValueOptions.parse("-drive", text, null, Set.of());
        drive.allowOnly(DRIVE_KEYS);
        if (drive.get("file") == null || drive.get("file").isEmpty()) {
            throw new UsageException("-drive " + text + ": file= is required");
        }
        String media = drive.get("media");
        if (media != null && !media.equals("disk")) {
            throw new UsageException("-drive " + text + ": media=" + media + " is not supported (only disks)");
        }
        String bus = drive.get("if") == null ? "virtio" : drive.get("if");
        switch (bus) {
            case "virtio" -> specs.add(block(drive, drive.get("id") == null ? "virtio" + anonymous++ : drive.get("id"), null));
            case "none" -> {
                String id = drive.get("id");
                if (id == null) {
                    throw new UsageException("-drive " + text + ": if=none needs id= so a -device can use it");
                }
                define(drives, "-drive", id, drive);
            }
            default -> throw new UsageException("-drive " + text + ": if=" + bus + " is not supported (jvirt has virtio disks: if=virtio, or if=none with -device virtio-blk-pci)");
        }
    }

    public void netdev(String text) throws UsageException {
        KeyValueOptions netdev = KeyValueOptions.parse("-netdev", text, "type", Set.of());
        netdev.allowOnly(NETDEV_KEYS);
        checkNetBackend("-netdev", text, netdev);
        String id = netdev.get("id");
        if (id == null) {
            throw new UsageException("-netdev " + text + ": id= is required");
        }
        define(netdevs, "-netdev", id, netdev);
    }

    public void chardev(String text) throws UsageException {
        KeyValueOptions chardev = KeyValueOptions.parse("-chardev", text, "backend", Set.of());
        chardev.allowOnly(CHARDEV_KEYS);
        String backend = chardev.get("backend");
        if (!Set.of("stdio", "file", "null").contains(backend)) {
            throw new UsageException("-chardev " + text + ": backend '" + backend + "' is not supported (stdio, file or null)");
        }
        if (backend.equals("file") && chardev.get("path") == null) {
            throw new UsageException("-chardev " + text + ": file needs path=");
        }
        String id = chardev.get("id");
        if (id == null) {
            throw new UsageException("-chardev " + text + ": id= is required");
        }
        define(chardevs, "-chardev", id, chardev);
    }

    /** The pre-netdev form: {@code -net nic,model=virtio[,macaddr=M]} and {@code -net tap[,ifname=T]}, paired by vlan. */
    public void net(String text) throws UsageException {
        KeyValueOptions net = KeyValueOptions.parse("-net", text, "type", Set.of());
        String type = net.get("type");
        switch (type == null ? "" : type) {
            case "nic" -> {
                net.allowOnly(Set.of("type", "model", "macaddr", "vlan", "id", "name", "addr", "netdev"));
                String model = net.get("model") == null ? "virtio" : net.get("model");
                if (!model.equals("virtio") && !model.equals("virtio-net-pci")) {
                    throw new UsageException("-net " + text + ": model=" + model + " is not supported (jvirt has model=virtio)");
                }
                legacyNics.add(net);
            }
            case "tap", "bridge" -> {
                net.allowOnly(Set.of("type", "ifname", "script", "downscript", "br", "vlan", "id", "name", "vhost", "helper", "vnet_hdr"));
                checkNetBackend("-net", text, net);
                legacyTaps.add(net);
            }
            case "none" -> { }
            default -> throw new UsageException("-net " + text + ": '" + type + "' is not supported (nic, tap, bridge or none)");
        }
    }

    public void device(String text) throws UsageException {
        KeyValueOptions device = KeyValueOptions.parse("-device", text, "driver", Set.of());
        String driver = device.get("driver");
        String id = device.get("id");
        int slot = slot("-device", text, device.get("addr"));
        switch (driver == null ? "" : driver) {
            case "virtio-blk-pci", "virtio-blk" -> {
                device.allowOnly(Set.of("driver", "id", "drive", "addr", "num-queues", "serial", "bus", "discard", "bootindex"));
                String driveId = device.get("drive");
                KeyValueOptions drive = use(drives, "-device " + text, "drive", driveId);
                DeviceSpec.Block block = block(drive, id == null ? driveId : id, device);
                specs.add(new DeviceSpec.Block(block.id(), block.file(), block.format(), block.cache(), block.readOnly(),
                        block.serial(), block.discard(), block.queues(), slot));
            }
            case "virtio-net-pci", "virtio-net" -> {
                device.allowOnly(Set.of("driver", "id", "netdev", "mac", "addr", "bus", "mq", "vectors", "romfile", "bootindex"));
                String netdevId = device.get("netdev");
                KeyValueOptions netdev = use(netdevs, "-device " + text, "netdev", netdevId);
                String mac = mac("-device " + text, device.get("mac"));
                specs.add(new DeviceSpec.Net(id == null ? netdevId : id, netdev.get("ifname"), netdev.get("br"), mac, slot));
            }
            case "virtio-rng-pci", "virtio-rng" -> {
                device.allowOnly(Set.of("driver", "id", "addr", "bus", "rng", "max-bytes", "period"));
                specs.add(new DeviceSpec.Rng(id == null ? "rng" + anonymous++ : id, slot));
            }
            case "virtio-balloon-pci", "virtio-balloon" -> {
                device.allowOnly(Set.of("driver", "id", "addr", "bus", "deflate-on-oom", "free-page-reporting"));
                specs.add(new DeviceSpec.Balloon(id == null ? "balloon0" : id, slot));
            }
            case "virtio-serial-pci", "virtio-serial" -> {
                device.allowOnly(Set.of("driver", "id", "addr", "bus", "max_ports"));
                haveSerialBus = true;
            }
            case "virtconsole" -> {
                device.allowOnly(Set.of("driver", "id", "chardev", "name", "bus", "nr"));
                if (!haveSerialBus) {
                    throw new UsageException("-device " + text + ": a virtconsole needs a -device virtio-serial-pci before it");
                }
                KeyValueOptions chardev = use(chardevs, "-device " + text, "chardev", device.get("chardev"));
                DeviceSpec.ConsoleBackend backend = DeviceSpec.ConsoleBackend.valueOf(chardev.get("backend").toUpperCase(java.util.Locale.ROOT));
                Path path = chardev.get("path") == null ? null : Path.of(chardev.get("path"));
                specs.add(new DeviceSpec.Console(id == null ? "console" + anonymous++ : id, backend, path, slot));
            }
            default -> throw new UsageException("-device " + text + ": device '" + driver + "' is not supported"
                    + " (virtio-blk-pci, virtio-net-pci, virtio-rng-pci, virtio-balloon-pci, virtio-serial-pci, virtconsole)");
        }
    }

    /**
     * Forgets a back end defined with -drive if=none / blockdev-add ({@code kind} "drive") or
     * -netdev / netdev_add ("netdev"), for QMP blockdev-del and netdev_del: its id is free again.
     * The caller makes sure no plugged device still uses it.
     *
     * @return false if no such back end is defined
     */
    public boolean removeBackend(String kind, String id) {
        Map<String, KeyValueOptions> map = switch (kind) {
            case "drive" -> drives;
            case "netdev" -> netdevs;
            default -> throw new IllegalArgumentException("no back end kind " + kind);
        };
        usedBackends.remove(kind + ":" + id);
        return map.remove(id) != null;
    }

    /**
     * The front ends added since the last call, for QMP device_add (which defines its back end
     * with blockdev-add or netdev_add first, in this same object).
     */
    public List<DeviceSpec> takeAdded() {
        List<DeviceSpec> added = List.copyOf(specs);
        specs.clear();
        return added;
    }

    List<DeviceSpec> resolve() throws UsageException {
        List<DeviceSpec> all = new ArrayList<>(specs);
        pairLegacyNetworking(all);
        for (Map.Entry<String, KeyValueOptions> netdev : netdevs.entrySet()) {
            if (!usedBackends.contains("netdev:" + netdev.getKey())) {
                // QEMU only warns, but a NIC-less netdev is almost always a forgotten -device.
                throw new UsageException("-netdev " + netdev.getKey() + ": not used by any -device (add -device virtio-net-pci,netdev="
                        + netdev.getKey() + ")");
            }
        }
        Set<Integer> slots = new HashSet<>();
        for (DeviceSpec spec : all) {
            if (spec.slot() >= 0 && !slots.add(spec.slot())) {
                throw new UsageException("-device addr=" + spec.slot() + ": PCI slot " + spec.slot() + " is used twice");
            }
        }
        return all;
    }

    private void pairLegacyNetworking(List<DeviceSpec> all) throws UsageException {
        Map<String, KeyValueOptions> tapsByVlan = new HashMap<>();
        for (KeyValueOptions tap : legacyTaps) {
            String vlan = tap.get("vlan") == null ? "0" : tap.get("vlan");
            if (tapsByVlan.put(vlan, tap) != null) {
                throw new UsageException("-net tap: two taps on vlan " + vlan);
            }
        }
        for (KeyValueOptions nic : legacyNics) {
            String vlan = nic.get("vlan") == null ? "0" : nic.get("vlan");
            KeyValueOptions tap = tapsByVlan.remove(vlan);
            if (tap == null) {
                throw new UsageException("-net nic: no -net tap on vlan " + vlan + " to connect it to (user networking is not supported)");
            }
            all.add(new DeviceSpec.Net(nic.get("id") == null ? "net" + anonymous++ : nic.get("id"), tap.get("ifname"), tap.get("br"),
                    mac("-net nic", nic.get("macaddr")), slot("-net nic", "addr", nic.get("addr"))));
        }
        if (!tapsByVlan.isEmpty()) {
            throw new UsageException("-net tap: no -net nic on vlan " + tapsByVlan.keySet().iterator().next() + " uses it");
        }
    }

    private DeviceSpec.Block block(KeyValueOptions drive, String id, KeyValueOptions device) throws UsageException {
        String cache = drive.get("cache") == null ? "writeback" : drive.get("cache");
        if (!Set.of("writeback", "writethrough", "none", "unsafe", "directsync").contains(cache)) {
            throw new UsageException("-drive: cache=" + cache + " is not one of writeback, writethrough, none, directsync, unsafe");
        }
        String format = drive.get("format");
        if (format != null && !format.equals("raw") && !format.equals("qcow2")) {
            throw new UsageException("-drive: format=" + format + " is not supported (raw or qcow2)");
        }
        String discard = drive.get("discard") == null ? "ignore" : drive.get("discard");
        if (!Set.of("ignore", "off", "unmap", "on").contains(discard)) {
            throw new UsageException("-drive: discard=" + discard + " is not one of ignore, unmap");
        }
        String serial = device != null && device.get("serial") != null ? device.get("serial") : drive.get("serial");
        if (serial != null && serial.length() > 20) {
            throw new UsageException("-drive: serial '" + serial + "' is longer than virtio-blk's 20 bytes");
        }
        int queues = 1;
        if (device != null && device.get("num-queues") != null) {
            queues = number("-device", "num-queues", device.get("num-queues"), 1, 64);
        }
        return new DeviceSpec.Block(id, Path.of(drive.get("file")), format, cache, drive.flag("readonly", false), serial,
                discard.equals("unmap") || discard.equals("on"), queues, -1);
    }

    private static void checkNetBackend(String option, String text, KeyValueOptions netdev) throws UsageException {
        String type = netdev.get("type");
        if ("user".equals(type)) {
            throw new UsageException(option + " " + text + ": user networking (slirp) is not supported: use tap or bridge");
        }
        if (!"tap".equals(type) && !"bridge".equals(type)) {
            throw new UsageException(option + " " + text + ": type '" + type + "' is not supported (tap or bridge)");
        }
        String script = netdev.get("script");
        if (script != null && !script.equals("no") && !script.isEmpty()) {
            throw new UsageException(option + " " + text + ": script=" + script + " is not supported: create the tap beforehand"
                    + " and use script=no, or use br=BRIDGE");
        }
        if ("bridge".equals(type) && netdev.get("br") == null) {
            throw new UsageException(option + " " + text + ": bridge needs br=NAME");
        }
        if (netdev.flag("vhost", false)) {
            throw new UsageException(option + " " + text + ": vhost=on is not supported (jvirt's virtio-net runs in the VMM)");
        }
    }

    private static void define(Map<String, KeyValueOptions> map, String option, String id, KeyValueOptions value) throws UsageException {
        if (map.putIfAbsent(id, value) != null) {
            throw new UsageException(option + ": id '" + id + "' is defined twice");
        }
    }

    private KeyValueOptions use(Map<String, KeyValueOptions> map, String context, String key, String id) throws UsageException {
        if (id == null) {
            throw new UsageException(context + ": " + key + "= is required");
        }
        KeyValueOptions value = map.get(id);
        if (value == null) {
            throw new UsageException(context + ": " + key + " '" + id + "' is not defined (no -" + (key.equals("drive") ? "drive if=none,id=" : key + " id=") + id + ")");
        }
        if (!usedBackends.add(key + ":" + id)) {
            throw new UsageException(context + ": " + key + " '" + id + "' is already used by another device");
        }
        return value;
    }

    private static int slot(String option, String text, String addr) throws UsageException {
        if (addr == null) {
            return -1;
        }
        String slotText = addr.contains(".") ? addr.substring(0, addr.indexOf('.')) : addr;
        if (addr.contains(".") && !addr.endsWith(".0")) {
            throw new UsageException(option + " " + text + ": addr=" + addr + ": only function 0 is supported");
        }
        int slot;
        try {
            slot = Integer.decode(slotText.startsWith("0x") ? slotText : "0x" + slotText);
        } catch (NumberFormatException e) {
            throw new UsageException(option + " " + text + ": addr=" + addr + " is not a PCI slot number");
        }
        if (slot < 1 || slot > 31) {
            throw new UsageException(option + " " + text + ": addr=" + addr + ": slot must be 1-31 (0 is the host bridge)");
        }
        return slot;
    }

    private static int number(String option, String key, String text, int min, int max) throws UsageException {
        try {
            int value = Integer.parseInt(text);
            if (value >= min && value <= max) {
                return value;
            }
        } catch (NumberFormatException e) {
            // fall through to the message below
        }
        throw new UsageException(option + ": " + key + "=" + text + " is not a number in " + min + "-" + max);
    }

    private static String mac(String context, String text) throws UsageException {
        if (text == null) {
            return null;
        }
        if (!text.matches("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")) {
            throw new UsageException(context + ": mac '" + text + "' is not of the form 52:54:00:12:34:56");
        }
        if ((Integer.parseInt(text.substring(0, 2), 16) & 1) != 0) {
            throw new UsageException(context + ": mac '" + text + "' is a multicast address");
        }
        return text.toLowerCase(java.util.Locale.ROOT);
    }
}
