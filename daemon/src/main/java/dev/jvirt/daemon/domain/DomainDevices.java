package dev.jvirt.daemon.domain;

import org.w3c.dom.Element;
import org.w3c.dom.Node;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The devices of a definition that become jvirt-vmm virtio functions, read from {@code <devices>}
 * as libvirt's formatdomain describes them. What jvirt cannot run is refused here with a message
 * naming the element and value, when the domain starts or a device is attached.
 */
public final class DomainDevices {

    /** {@code <address type='pci' slot='0x05'/>} on bus 0, function 0, or null when absent or elsewhere. */
    public record PciSlot(int slot) { }

    /**
     * {@code <disk type='file|volume' device='disk'>} on the virtio bus. {@code file} is set for
     * type file, {@code pool}/{@code volume} for type volume. Cache and discard are as written
     * (null when not given, which leaves jvirt-vmm's defaults).
     */
    public record Disk(String type, String format, String cache, String discard, String file, String pool, String volume,
                       String target, boolean readOnly, String serial, String alias, PciSlot slot) {

        /** libvirt's alias for a virtio disk: virtio-disk plus the index of its target name (vda 0, vdb 1, vdaa 26). */
        public String defaultAlias() {
            return "virtio-disk" + diskIndex(target);
        }

        /** What virsh domblklist shows as the source: the file, or the volume's name. */
        public String source() {
            return file != null ? file : volume;
        }
    }

    /**
     * {@code <interface>} of type bridge (host bridge), network (a libvirt network's bridge) or
     * ethernet (a tap and nothing else). {@code targetDev} is the tap's name when one is known.
     */
    public record Nic(String type, String bridge, String network, String targetDev, String mac, String alias, PciSlot slot) { }

    /** {@code <rng model='virtio'>}. */
    public record Rng(String alias, PciSlot slot) { }

    /** {@code <memballoon model='virtio'>} with its {@code <stats period='N'/>} (0: not polled). */
    public record Balloon(int statsPeriod, String alias, PciSlot slot) { }

    /**
     * Devices libvirt's parser takes but jvirt-vmm cannot give the guest: kept in the definition,
     * refused at start so the guest never silently lacks them. (Display, input, controllers and
     * character devices are left out: a guest runs without them, and most libvirt-made definitions carry them.)
     */
    private static final java.util.Set<String> NOT_RUNNABLE = java.util.Set.of("hostdev", "filesystem", "tpm", "watchdog", "vsock",
            "shmem", "smartcard", "redirdev", "parallel", "crypto", "pstore", "memory", "iommu");

    private DomainDevices() {
    }

    /** The kinds of device in {@code devices} that jvirt-vmm cannot run, in document order, each once. */
    static List<String> notRunnable(Element devices) {
        List<String> kinds = new ArrayList<>();
        for (Node node = devices == null ? null : devices.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element device && NOT_RUNNABLE.contains(device.getTagName()) && !kinds.contains(device.getTagName())) {
                kinds.add(device.getTagName());
            }
        }
        return kinds;
    }

    static List<Disk> disks(Element devices) throws DomainXmlException {
        List<Disk> disks = new ArrayList<>();
        for (Element disk : children(devices, "disk")) {
            disks.add(disk(disk));
        }
        return disks;
    }

    static Disk disk(Element disk) throws DomainXmlException {
        String device = attribute(disk, "device", "disk");
        if (!device.equals("disk")) {
            throw new DomainXmlException("disk device '" + device + "' is not supported (jvirt has virtio disks: device='disk')");
        }
        String type = attribute(disk, "type", "file");
        Element source = child(disk, "source");
        String file = null;
        String pool = null;
        String volume = null;
        switch (type) {
            case "file" -> file = source == null ? null : blankToNull(source.getAttribute("file"));
            case "volume" -> {
                pool = source == null ? null : blankToNull(source.getAttribute("pool"));
                volume = source == null ? null : blankToNull(source.getAttribute("volume"));
                if (pool == null || volume == null) {
                    throw new DomainXmlException("disk of type 'volume' needs <source pool='...' volume='...'/>");
                }
            }
            default -> throw new DomainXmlException("disk type '" + type + "' is not supported (file and volume are)");
        }
        if (file == null && type.equals("file")) {
            throw new DomainXmlException("disk of type 'file' needs <source file='...'/>");
        }
        Element target = child(disk, "target");
        String dev = target == null ? "" : target.getAttribute("dev");
        String bus = target == null || target.getAttribute("bus").isEmpty() ? impliedBus(dev) : target.getAttribute("bus");
        if (!bus.equals("virtio")) {
            throw new DomainXmlException("disk bus '" + bus + "' of target '" + dev + "' is not supported"
                    + " (jvirt has virtio disks: <target dev='vda' bus='virtio'/>)");
        }
        if (!dev.matches("vd[a-z]{1,3}")) {
            throw new DomainXmlException("virtio disk target '" + dev + "' is not of the form vda, vdb, ...");
        }
        Element driver = child(disk, "driver");
        String format = driver == null ? null : blankToNull(driver.getAttribute("type"));
        String cache = driver == null ? null : blankToNull(driver.getAttribute("cache"));
        if ("default".equals(cache)) {
            cache = null;
        }
        String discard = driver == null ? null : blankToNull(driver.getAttribute("discard"));
        if (discard != null && !discard.equals("unmap") && !discard.equals("ignore")) {
            throw new DomainXmlException("disk discard '" + discard + "' is not one of unmap, ignore");
        }
        String serial = blankToNull(text(disk, "serial"));
        if (serial != null && (serial.length() > 20 || !serial.matches("[A-Za-z0-9_.+ -]+"))) {
            throw new DomainXmlException("disk serial '" + serial + "' must be at most 20 of A-Z a-z 0-9 _ . + - and space");
        }
        return new Disk(type, format, cache, discard, file, pool, volume, dev, child(disk, "readonly") != null, serial,
                alias(disk), slot(disk));
    }

    /** libvirt's bus for a target with no bus attribute, from the name's prefix. */
    private static String impliedBus(String dev) {
        if (dev.startsWith("vd")) {
            return "virtio";
        }
        if (dev.startsWith("sd")) {
            return "scsi";
        }
        if (dev.startsWith("hd")) {
            return "ide";
        }
        return dev.startsWith("xvd") ? "xen" : "(none)";
    }

    static List<Nic> interfaces(Element devices) throws DomainXmlException {
        List<Nic> nics = new ArrayList<>();
        for (Element iface : children(devices, "interface")) {
            nics.add(nic(iface));
        }
        return nics;
    }

    static Nic nic(Element iface) throws DomainXmlException {
        String type = iface.getAttribute("type");
        Element source = child(iface, "source");
        String bridge = source == null ? null : blankToNull(source.getAttribute("bridge"));
        String network = null;
        switch (type) {
            case "bridge", "ethernet" -> { }
            case "network" -> network = source == null ? null : blankToNull(source.getAttribute("network"));
            default -> throw new DomainXmlException("interface type '" + type + "' is not supported (bridge, network and ethernet are)");
        }
        Element model = child(iface, "model");
        String modelType = model == null ? "virtio" : model.getAttribute("type");
        if (!modelType.equals("virtio")) {
            throw new DomainXmlException("interface model '" + modelType + "' is not supported (jvirt has virtio NICs: <model type='virtio'/>)");
        }
        Element target = child(iface, "target");
        String targetDev = target == null ? null : blankToNull(target.getAttribute("dev"));
        if (targetDev != null && !targetDev.matches("[A-Za-z0-9_.-]{1,15}")) {
            throw new DomainXmlException("interface target dev '" + targetDev + "' is not a valid interface name (1-15 of A-Z a-z 0-9 _ . -)");
        }
        Element mac = child(iface, "mac");
        return new Nic(type, bridge, network, targetDev, mac == null ? null : mac.getAttribute("address").toLowerCase(Locale.ROOT),
                alias(iface), slot(iface));
    }

    static List<Rng> rngs(Element devices) throws DomainXmlException {
        List<Rng> rngs = new ArrayList<>();
        for (Element rng : children(devices, "rng")) {
            String model = rng.getAttribute("model");
            if (!model.equals("virtio")) {
                throw new DomainXmlException("rng model '" + model + "' is not supported (virtio is)");
            }
            rngs.add(new Rng(alias(rng), slot(rng)));
        }
        return rngs;
    }

    /** The balloon, or null for {@code <memballoon model='none'/>}. */
    static Balloon balloon(Element devices) throws DomainXmlException {
        Element balloon = devices == null ? null : child(devices, "memballoon");
        if (balloon == null) {
            return null;
        }
        String model = balloon.getAttribute("model");
        if (model.equals("none")) {
            return null;
        }
        if (!model.equals("virtio")) {
            throw new DomainXmlException("memballoon model '" + model + "' is not supported (virtio and none are)");
        }
        int period = 0;
        Element stats = child(balloon, "stats");
        if (stats != null) {
            try {
                period = Integer.parseInt(stats.getAttribute("period"));
            } catch (NumberFormatException e) {
                throw new DomainXmlException("memballoon stats period '" + stats.getAttribute("period") + "' is not a number of seconds");
            }
            if (period < 0) {
                throw new DomainXmlException("memballoon stats period must not be negative");
            }
        }
        return new Balloon(period, alias(balloon), slot(balloon));
    }

    /** libvirt's virDiskNameToIndex for the part after "vd": a 0, z 25, aa 26. */
    public static int diskIndex(String target) {
        String letters = target.substring(2);
        int index = 0;
        for (int i = 0; i < letters.length(); i++) {
            index = (index + (i == 0 ? 0 : 1)) * 26 + (letters.charAt(i) - 'a');
        }
        return index;
    }

    private static String alias(Element device) {
        Element alias = child(device, "alias");
        return alias == null ? null : blankToNull(alias.getAttribute("name"));
    }

    /** A bus-0 PCI address, the only kind jvirt-vmm's single root bus can honour; others are left to jvirt-vmm. */
    private static PciSlot slot(Element device) throws DomainXmlException {
        Element address = child(device, "address");
        if (address == null || !address.getAttribute("type").equals("pci")) {
            return null;
        }
        try {
            if (number(address.getAttribute("bus")) != 0 || number(address.getAttribute("domain")) != 0
                    || number(address.getAttribute("function")) != 0) {
                return null;
            }
            int slot = number(address.getAttribute("slot"));
            if (slot < 1 || slot > 31) {
                throw new DomainXmlException("PCI address slot " + address.getAttribute("slot") + " is out of range (1-31)");
            }
            return new PciSlot(slot);
        } catch (NumberFormatException e) {
            throw new DomainXmlException("malformed PCI address on <" + device.getTagName() + ">");
        }
    }

    private static int number(String text) {
        if (text.isEmpty()) {
            return 0;
        }
        return text.startsWith("0x") || text.startsWith("0X") ? Integer.parseInt(text.substring(2), 16) : Integer.parseInt(text);
    }

    static List<Element> children(Element parent, String tag) {
        List<Element> list = new ArrayList<>();
        if (parent == null) {
            return list;
        }
        for (Node node = parent.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element element && element.getTagName().equals(tag)) {
                list.add(element);
            }
        }
        return list;
    }

    private static Element child(Element parent, String tag) {
        List<Element> list = children(parent, tag);
        return list.isEmpty() ? null : list.getFirst();
    }

    private static String text(Element parent, String tag) {
        Element element = child(parent, tag);
        return element == null ? null : element.getTextContent().trim();
    }

    private static String attribute(Element element, String name, String otherwise) {
        return element.getAttribute(name).isEmpty() ? otherwise : element.getAttribute(name);
    }

    private static String blankToNull(String value) {
        return value == null || value.isBlank() ? null : value.trim();
    }
}
