package dev.jvirt.daemon.domain;

import org.w3c.dom.Element;
import org.w3c.dom.Node;

import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks the {@code <devices>} of a domain definition at define time, as libvirt's parser does,
 * so a typo is a clear error naming the element or value instead of a surprise at start.
 * Device kinds jvirt-vmm cannot run yet are accepted here (libvirt would keep them) and refused
 * when the domain starts.
 */
final class DeviceChecks {

    private static final Set<String> DEVICES = Set.of("emulator", "disk", "controller", "interface", "serial", "console", "channel",
            "input", "graphics", "video", "rng", "memballoon", "watchdog", "sound", "filesystem", "hostdev", "tpm", "panic",
            "redirdev", "smartcard", "hub", "lease", "shmem", "iommu", "vsock", "parallel", "memory", "audio", "crypto", "pstore");
    private static final Set<String> DISK_FORMATS = Set.of("raw", "qcow2");
    private static final Set<String> CACHE_MODES = Set.of("default", "none", "writethrough", "writeback", "directsync", "unsafe");
    private static final Set<String> INTERFACE_TYPES = Set.of("bridge", "network", "ethernet", "user", "direct");
    private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");

    private DeviceChecks() {
    }

    static void check(Element devices) throws DomainXmlException {
        for (Node node = devices.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (!(node instanceof Element device)) {
                continue;
            }
            switch (device.getTagName()) {
                case "disk" -> disk(device);
                case "interface" -> networkInterface(device);
                default -> {
                    if (!DEVICES.contains(device.getTagName())) {
                        throw new DomainXmlException("unsupported device <" + device.getTagName() + "> in <devices>");
                    }
                }
            }
        }
    }

    private static void disk(Element disk) throws DomainXmlException {
        Element driver = child(disk, "driver");
        if (driver != null) {
            String type = driver.getAttribute("type");
            if (!type.isEmpty() && !DISK_FORMATS.contains(type)) {
                throw new DomainXmlException("disk driver type '" + type + "' is not supported (raw and qcow2 are)");
            }
            String cache = driver.getAttribute("cache");
            if (!cache.isEmpty() && !CACHE_MODES.contains(cache)) {
                throw new DomainXmlException("disk cache mode '" + cache + "' is not one of " + String.join(", ", CACHE_MODES.stream().sorted().toList()));
            }
        }
        String type = disk.getAttribute("type");
        Element source = child(disk, "source");
        if (type.equals("file") && (source == null || source.getAttribute("file").isBlank())) {
            throw new DomainXmlException("disk of type 'file' needs <source file='...'/>");
        }
        Element target = child(disk, "target");
        if (target == null || target.getAttribute("dev").isBlank()) {
            throw new DomainXmlException("disk needs <target dev='...'/>");
        }
    }

    private static void networkInterface(Element iface) throws DomainXmlException {
        String type = iface.getAttribute("type");
        if (!INTERFACE_TYPES.contains(type)) {
            throw new DomainXmlException("interface type '" + type + "' is not supported (bridge, network and ethernet are)");
        }
        Element source = child(iface, "source");
        if (type.equals("bridge") && (source == null || source.getAttribute("bridge").isBlank())) {
            throw new DomainXmlException("interface of type 'bridge' needs <source bridge='...'/>");
        }
        if (type.equals("network") && (source == null || source.getAttribute("network").isBlank())) {
            throw new DomainXmlException("interface of type 'network' needs <source network='...'/>");
        }
        Element mac = child(iface, "mac");
        if (mac != null) {
            String address = mac.getAttribute("address").toLowerCase(Locale.ROOT);
            if (!MAC.matcher(address).matches()) {
                throw new DomainXmlException("unable to parse mac address '" + mac.getAttribute("address") + "'");
            }
            if ((Integer.parseInt(address.substring(0, 2), 16) & 1) != 0) {
                throw new DomainXmlException("expected unicast mac address, found multicast '" + mac.getAttribute("address") + "'");
            }
        }
    }

    private static Element child(Element parent, String tag) {
        for (Node node = parent.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element element && element.getTagName().equals(tag)) {
                return element;
            }
        }
        return null;
    }
}
