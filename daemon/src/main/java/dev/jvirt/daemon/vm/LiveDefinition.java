package dev.jvirt.daemon.vm;

import dev.jvirt.daemon.domain.DomainDefinition;
import dev.jvirt.daemon.domain.DomainDevices;
import dev.jvirt.daemon.domain.DomainXmlException;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The definition of a running domain as libvirt's live XML shows it: every device carries its
 * {@code <alias name>} (the id jvirt-vmm knows it by: virtio-disk0, net0, rng0, balloon0), every
 * interface its tap ({@code <target dev='vnet0'/>}), and once the VMM has placed them, every device its PCI address.
 */
final class LiveDefinition {

    private LiveDefinition() {
    }

    /**
     * Gives aliases and taps to the devices that have none ({@code fresh}: to every device, as at
     * start, keeping only user aliases "ua-..."). Taps taken here are released by the caller.
     */
    static DomainDefinition prepare(DomainDefinition definition, DeviceResources resources, TapNames taps, boolean fresh,
            List<String> tapsTaken) throws VmStartException {
        try {
            List<DomainDevices.Nic> nics = definition.interfaces();
            definition.disks();
            definition.rngs();
            definition.balloon();
            Set<String> aliases = new HashSet<>();
            if (!fresh) {
                collectAliases(definition, aliases);
            }
            List<String[]> nicPlans = new ArrayList<>(); // per interface: its tap, or null when it keeps what it has
            for (DomainDevices.Nic nic : nics) {
                if (!fresh && nic.alias() != null) {
                    nicPlans.add(null);
                    continue;
                }
                if (nic.type().equals("network")) {
                    resources.networkBridge(nic.network()); // an inactive network is refused before any tap is taken
                }
                String tap = nic.targetDev();
                if (tap == null || tap.startsWith("vnet")) { // libvirt's reserved prefix: names it hands out itself
                    tap = taps.allocate();
                    tapsTaken.add(tap);
                }
                nicPlans.add(new String[] {tap});
            }
            return DomainDefinition.parse(definition.edited(root -> {
                Element devices = child(root, "devices");
                int nicIndex = 0;
                for (Node node = devices.getFirstChild(); node != null; node = node.getNextSibling()) {
                    if (!(node instanceof Element device)) {
                        continue;
                    }
                    Element alias = child(device, "alias");
                    boolean keep = alias != null && (!fresh || alias.getAttribute("name").startsWith("ua-"));
                    switch (device.getTagName()) {
                        case "disk" -> {
                            if (!keep) {
                                Element target = child(device, "target");
                                setAlias(device, "virtio-disk" + DomainDevices.diskIndex(target.getAttribute("dev")), aliases);
                            }
                        }
                        case "interface" -> {
                            String[] plan = nicPlans.get(nicIndex++);
                            if (plan != null) {
                                applyTap(device, plan[0]);
                            }
                            if (!keep) {
                                setAlias(device, free("net", aliases), aliases);
                            }
                        }
                        case "rng" -> {
                            if (!keep) {
                                setAlias(device, free("rng", aliases), aliases);
                            }
                        }
                        case "memballoon" -> {
                            if (!keep && device.getAttribute("model").equals("virtio")) {
                                setAlias(device, "balloon0", aliases);
                            }
                        }
                        default -> { }
                    }
                }
            }));
        } catch (DomainXmlException e) {
            throw new VmStartException(e.getMessage());
        }
    }

    /** Writes the PCI slots jvirt-vmm reported (query-pci: alias to slot) into the devices with those aliases. */
    static DomainDefinition withAddresses(DomainDefinition live, Map<String, Integer> slots) throws DomainXmlException {
        return DomainDefinition.parse(live.edited(root -> {
            Element devices = child(root, "devices");
            for (Node node = devices.getFirstChild(); node != null; node = node.getNextSibling()) {
                if (node instanceof Element device && child(device, "alias") != null) {
                    Integer slot = slots.get(child(device, "alias").getAttribute("name"));
                    if (slot == null) {
                        continue;
                    }
                    Element address = child(device, "address");
                    if (address == null) {
                        address = root.getOwnerDocument().createElement("address");
                        device.appendChild(address);
                    }
                    address.setAttribute("type", "pci");
                    address.setAttribute("domain", "0x0000");
                    address.setAttribute("bus", "0x00");
                    address.setAttribute("slot", String.format("0x%02x", slot));
                    address.setAttribute("function", "0x0");
                }
            }
        }));
    }

    private static void collectAliases(DomainDefinition definition, Set<String> aliases) throws DomainXmlException {
        definition.disks().forEach(d -> addIfSet(aliases, d.alias()));
        definition.interfaces().forEach(n -> addIfSet(aliases, n.alias()));
        definition.rngs().forEach(r -> addIfSet(aliases, r.alias()));
        DomainDevices.Balloon balloon = definition.balloon();
        if (balloon != null) {
            addIfSet(aliases, balloon.alias());
        }
    }

    private static void addIfSet(Set<String> aliases, String alias) {
        if (alias != null) {
            aliases.add(alias);
        }
    }

    private static String free(String prefix, Set<String> aliases) {
        for (int i = 0; ; i++) {
            if (!aliases.contains(prefix + i)) {
                return prefix + i;
            }
        }
    }

    /** libvirt's element order inside a device is kept loosely: alias goes before address, else at the end. */
    private static void setAlias(Element device, String name, Set<String> aliases) {
        Element alias = child(device, "alias");
        if (alias == null) {
            alias = device.getOwnerDocument().createElement("alias");
            device.insertBefore(alias, child(device, "address"));
        }
        alias.setAttribute("name", name);
        aliases.add(name);
    }

    /**
     * The tap goes into the live XML; a network's bridge does not (libvirt shows it as a source
     * attribute, but virsh domiflist takes the first source attribute, which would then be the
     * bridge rather than the network's name: the DOM writes attributes in name order).
     */
    private static void applyTap(Element iface, String tap) {
        Element target = child(iface, "target");
        if (target == null) {
            target = iface.getOwnerDocument().createElement("target");
            Element source = child(iface, "source");
            iface.insertBefore(target, source == null ? iface.getFirstChild() : source.getNextSibling());
        }
        target.setAttribute("dev", tap);
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
