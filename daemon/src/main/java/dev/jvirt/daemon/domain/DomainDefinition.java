package dev.jvirt.daemon.domain;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.SAXParseException;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import java.io.StringReader;
import java.io.StringWriter;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * A domain as libvirt's domain XML defines it (formatdomain). The document itself is kept, so
 * elements jvirt does not interpret survive define/dumpxml as they do in libvirt; the fields the
 * daemon needs are read and checked here: name, uuid, memory, vcpus, OS type.
 */
public final class DomainDefinition {

    private static final Pattern NAME = Pattern.compile("[^/\\x00-\\x1f]{1,200}");
    private static final Set<String> KNOWN_TOP_LEVEL = Set.of("name", "uuid", "title", "description", "metadata", "memory",
            "currentMemory", "maxMemory", "vcpu", "vcpus", "os", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash",
            "memoryBacking", "devices", "pm", "resource", "seclabel", "sysinfo", "iothreads", "cputune", "numatune", "genid");
    /** libvirt's virDomainLifecycleAction values; on_crash also takes the coredump ones. */
    private static final Set<String> LIFECYCLE_ACTIONS = Set.of("destroy", "restart", "preserve", "rename-restart");
    private static final Set<String> CRASH_ACTIONS = Set.of("destroy", "restart", "preserve", "rename-restart",
            "coredump-destroy", "coredump-restart");

    private final Document document;
    private final String name;
    private final UUID uuid;
    private final long memoryKiB;
    private final long currentMemoryKiB;
    private final int vcpus;
    private final String osType;
    private final String xml;

    /** Direct kernel boot from {@code <os>}: kernel, initrd, cmdline (any may be null). */
    public record Boot(String kernel, String initrd, String cmdline) { }

    private DomainDefinition(Document document, String name, UUID uuid, long memoryKiB, long currentMemoryKiB, int vcpus, String osType) {
        this.document = document;
        this.name = name;
        this.uuid = uuid;
        this.memoryKiB = memoryKiB;
        this.currentMemoryKiB = currentMemoryKiB;
        this.vcpus = vcpus;
        this.osType = osType;
        this.xml = serialise(document);
    }

    public static DomainDefinition parse(String xml) throws DomainXmlException {
        Document document = parseDocument(xml);
        Element root = document.getDocumentElement();
        if (!root.getTagName().equals("domain")) {
            throw new DomainXmlException("unexpected root element <" + root.getTagName() + ">, expecting <domain>");
        }
        String type = root.getAttribute("type");
        if (!type.isEmpty() && !Set.of("kvm", "qemu").contains(type)) {
            throw new DomainXmlException("domain type '" + type + "' is not supported (kvm is)");
        }
        for (Node child = root.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element element && !KNOWN_TOP_LEVEL.contains(element.getTagName())) {
                throw new DomainXmlException("unsupported element <" + element.getTagName() + "> in domain XML");
            }
        }
        for (String event : List.of("poweroff", "reboot", "crash")) {
            String action = trimmed(text(root, "on_" + event));
            if (action != null && !(event.equals("crash") ? CRASH_ACTIONS : LIFECYCLE_ACTIONS).contains(action)) {
                throw new DomainXmlException("unknown on_" + event + " action: '" + action + "' (one of "
                        + String.join(", ", (event.equals("crash") ? CRASH_ACTIONS : LIFECYCLE_ACTIONS).stream().sorted().toList()) + ")");
            }
        }
        Element devices = child(root, "devices");
        if (devices != null) {
            DeviceChecks.check(devices);
        }
        addImplicitDevices(document, root);
        String name = text(root, "name");
        if (name == null || name.isBlank()) {
            throw new DomainXmlException("missing domain name information");
        }
        if (!NAME.matcher(name).matches()) {
            throw new DomainXmlException("name '" + name + "' cannot contain '/' or control characters");
        }
        UUID uuid;
        String uuidText = text(root, "uuid");
        if (uuidText == null) {
            uuid = UUID.randomUUID();
            Element element = document.createElement("uuid");
            element.setTextContent(uuid.toString());
            root.insertBefore(element, child(root, "name").getNextSibling());
        } else {
            try {
                uuid = UUID.fromString(uuidText.trim());
            } catch (IllegalArgumentException e) {
                throw new DomainXmlException("malformed uuid element: '" + uuidText + "'");
            }
        }
        Element memory = child(root, "memory");
        if (memory == null) {
            throw new DomainXmlException("missing memory element: a domain needs <memory>");
        }
        long memoryKiB = kibibytes(memory);
        Element current = child(root, "currentMemory");
        long currentKiB = current == null ? memoryKiB : kibibytes(current);
        if (currentKiB > memoryKiB) {
            throw new DomainXmlException("currentMemory (" + currentKiB + " KiB) exceeds memory (" + memoryKiB + " KiB)");
        }
        int vcpus = 1;
        String vcpuText = text(root, "vcpu");
        if (vcpuText != null) {
            try {
                vcpus = Integer.parseInt(vcpuText.trim());
            } catch (NumberFormatException e) {
                throw new DomainXmlException("vcpu count '" + vcpuText + "' is not a number");
            }
            if (vcpus < 1 || vcpus > 255) {
                throw new DomainXmlException("vcpu count " + vcpus + " is out of range (1-255)");
            }
        }
        Element os = child(root, "os");
        String osType = os == null ? "hvm" : text(os, "type");
        if (osType == null || !osType.trim().equals("hvm")) {
            throw new DomainXmlException("OS type '" + osType + "' is not supported (hvm is)");
        }
        return new DomainDefinition(document, name, uuid, memoryKiB, currentKiB, vcpus, "hvm");
    }

    private static Document parseDocument(String xml) throws DomainXmlException {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setExpandEntityReferences(false);
            DocumentBuilder builder = factory.newDocumentBuilder();
            builder.setErrorHandler(null);
            return builder.parse(new org.xml.sax.InputSource(new StringReader(xml)));
        } catch (SAXParseException e) {
            throw new DomainXmlException("XML error at line " + e.getLineNumber() + ", column " + e.getColumnNumber() + ": " + e.getMessage());
        } catch (Exception e) {
            throw new DomainXmlException("XML error: " + e.getMessage());
        }
    }

    /** A memory element's size in KiB, honouring libvirt's unit attribute (default KiB). */
    private static long kibibytes(Element element) throws DomainXmlException {
        String unit = element.getAttribute("unit").isEmpty() ? "KiB" : element.getAttribute("unit");
        long value;
        try {
            value = Long.parseLong(element.getTextContent().trim());
        } catch (NumberFormatException e) {
            throw new DomainXmlException("invalid value '" + element.getTextContent().trim() + "' for <" + element.getTagName() + ">");
        }
        long bytesPerUnit = switch (unit.toLowerCase(Locale.ROOT)) {
            case "b", "bytes" -> 1;
            case "k", "kib" -> 1024;
            case "kb" -> 1000;
            case "m", "mib" -> 1L << 20;
            case "mb" -> 1_000_000;
            case "g", "gib" -> 1L << 30;
            case "gb" -> 1_000_000_000;
            case "t", "tib" -> 1L << 40;
            case "tb" -> 1_000_000_000_000L;
            default -> throw new DomainXmlException("unknown unit '" + unit + "' for <" + element.getTagName() + ">");
        };
        if (value <= 0 || value > Long.MAX_VALUE / bytesPerUnit) {
            throw new DomainXmlException("<" + element.getTagName() + "> must be a positive size");
        }
        return (value * bytesPerUnit + 1023) / 1024;
    }

    private static Element child(Element parent, String tag) {
        for (Node child = parent.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element element && element.getTagName().equals(tag)) {
                return element;
            }
        }
        return null;
    }

    private static String text(Element parent, String tag) {
        Element element = child(parent, tag);
        return element == null ? null : element.getTextContent();
    }

    public String name() {
        return name;
    }

    public UUID uuid() {
        return uuid;
    }

    public long memoryKiB() {
        return memoryKiB;
    }

    public long currentMemoryKiB() {
        return currentMemoryKiB;
    }

    public int vcpus() {
        return vcpus;
    }

    public String osType() {
        return osType;
    }

    public Boot boot() {
        Element os = child(document.getDocumentElement(), "os");
        if (os == null) {
            return new Boot(null, null, null);
        }
        return new Boot(trimmed(text(os, "kernel")), trimmed(text(os, "initrd")), text(os, "cmdline"));
    }

    private static String trimmed(String value) {
        return value == null || value.isBlank() ? null : value.trim();
    }

    /** {@code <vcpu current='N'>}: the vCPUs online at start when fewer than the maximum, or the maximum when not given. */
    public int currentVcpus() {
        Element vcpu = child(document.getDocumentElement(), "vcpu");
        try {
            return vcpu == null || vcpu.getAttribute("current").isBlank() ? vcpus : Integer.parseInt(vcpu.getAttribute("current").trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** cpu mode host-passthrough or host-model: the guest gets the host's CPU (-cpu host). */
    public boolean hostCpu() {
        Element cpu = child(document.getDocumentElement(), "cpu");
        return cpu != null && (cpu.getAttribute("mode").equals("host-passthrough") || cpu.getAttribute("mode").equals("host-model"));
    }

    /** The CPU model named by {@code <cpu mode='custom'><model>}, or null when none is. */
    public String cpuModel() {
        Element cpu = child(document.getDocumentElement(), "cpu");
        if (cpu == null || hostCpu()) {
            return null;
        }
        return trimmed(text(cpu, "model"));
    }

    /** The text of a top-level element such as {@code <title>} or {@code <description>}, or null. */
    public String topLevelText(String tag) {
        return text(document.getDocumentElement(), tag);
    }

    /** {@code <memoryBacking><hugepages/>}: guest RAM from hugetlbfs. */
    public boolean hugepages() {
        Element backing = child(document.getDocumentElement(), "memoryBacking");
        return backing != null && child(backing, "hugepages") != null;
    }

    /** What to do when the guest powers off, reboots or crashes (libvirt's on_* elements). */
    public String lifecycleAction(String event) {
        String value = trimmed(text(document.getDocumentElement(), "on_" + event));
        if (value != null) {
            return value;
        }
        return event.equals("reboot") ? "restart" : "destroy";
    }

    /**
     * What libvirt's parser and qemu driver add to every definition: a MAC address for each
     * interface that has none (52:54:00 plus three random bytes, kept so the guest sees the same
     * NIC at every start), and a virtio memory balloon unless {@code <memballoon model='none'/>} says otherwise.
     */
    private static void addImplicitDevices(Document document, Element root) {
        Element devices = child(root, "devices");
        if (devices == null) {
            devices = document.createElement("devices");
            root.appendChild(devices);
        }
        Set<String> macs = new java.util.HashSet<>();
        for (Element iface : DomainDevices.children(devices, "interface")) {
            Element mac = child(iface, "mac");
            if (mac != null) {
                macs.add(mac.getAttribute("address").toLowerCase(Locale.ROOT));
            }
        }
        for (Element iface : DomainDevices.children(devices, "interface")) {
            if (child(iface, "mac") == null) {
                String address;
                do {
                    address = randomMac();
                } while (!macs.add(address));
                Element mac = document.createElement("mac");
                mac.setAttribute("address", address);
                iface.insertBefore(mac, iface.getFirstChild());
            }
        }
        if (child(devices, "memballoon") == null) {
            Element balloon = document.createElement("memballoon");
            balloon.setAttribute("model", "virtio");
            devices.appendChild(balloon);
        }
    }

    private static String randomMac() {
        java.util.concurrent.ThreadLocalRandom random = java.util.concurrent.ThreadLocalRandom.current();
        return String.format("52:54:00:%02x:%02x:%02x", random.nextInt(256), random.nextInt(256), random.nextInt(256));
    }

    private Element devices() {
        return child(document.getDocumentElement(), "devices");
    }

    /** Device kinds of this definition that jvirt-vmm cannot run (hostdev, filesystem, tpm, ...), each once. */
    public List<String> notRunnableDevices() {
        return DomainDevices.notRunnable(devices());
    }

    /** The virtio disks, in document order; a disk jvirt cannot run is an error naming it. */
    public List<DomainDevices.Disk> disks() throws DomainXmlException {
        return DomainDevices.disks(devices());
    }

    public List<DomainDevices.Nic> interfaces() throws DomainXmlException {
        return DomainDevices.interfaces(devices());
    }

    public List<DomainDevices.Rng> rngs() throws DomainXmlException {
        return DomainDevices.rngs(devices());
    }

    /** The memory balloon, or null when the definition says {@code model='none'}. */
    public DomainDevices.Balloon balloon() throws DomainXmlException {
        return DomainDevices.balloon(devices());
    }

    /** The result of taking a device out of a definition: the new definition and the device's alias (null if it had none). */
    public record Removal(DomainDefinition definition, String alias) { }

    /** This definition with the device in {@code deviceXml} (a {@code <disk>} or {@code <interface>}) appended, checked as at define. */
    public DomainDefinition withDevice(String deviceXml) throws DomainXmlException {
        Element device = attachable(deviceXml);
        if (device.getTagName().equals("disk")) {
            String target = DomainDevices.disk(device).target();
            for (DomainDevices.Disk disk : disks()) {
                if (disk.target().equals(target)) {
                    throw new DomainXmlException("target " + target + " already exists");
                }
            }
        } else {
            DomainDevices.Nic nic = DomainDevices.nic(device);
            for (DomainDevices.Nic other : interfaces()) {
                if (nic.mac() != null && nic.mac().equals(other.mac())) {
                    throw new DomainXmlException("interface with MAC address " + nic.mac() + " already exists");
                }
            }
        }
        return parse(edited(root -> child(root, "devices").appendChild(root.getOwnerDocument().importNode(device, true))));
    }

    /**
     * This definition without the device {@code deviceXml} names, found as libvirt finds it: a
     * disk by its target dev, an interface by its MAC address (or its alias, or as the only one).
     */
    public Removal withoutDevice(String deviceXml) throws DomainXmlException {
        Element device = attachable(deviceXml);
        List<Element> candidates = DomainDevices.children(devices(), device.getTagName());
        int index = -1;
        if (device.getTagName().equals("disk")) {
            Element target = child(device, "target");
            String dev = target == null ? "" : target.getAttribute("dev");
            for (int i = 0; i < candidates.size(); i++) {
                Element other = child(candidates.get(i), "target");
                if (other != null && other.getAttribute("dev").equals(dev)) {
                    index = i;
                }
            }
            if (index < 0) {
                throw new DomainXmlException("disk " + dev + " not found");
            }
        } else {
            Element mac = child(device, "mac");
            Element alias = child(device, "alias");
            for (int i = 0; i < candidates.size(); i++) {
                Element other = candidates.get(i);
                boolean matches = mac != null ? child(other, "mac") != null
                        && child(other, "mac").getAttribute("address").equalsIgnoreCase(mac.getAttribute("address"))
                        : alias != null ? child(other, "alias") != null && child(other, "alias").getAttribute("name").equals(alias.getAttribute("name"))
                        : candidates.size() == 1;
                if (matches) {
                    index = i;
                }
            }
            if (index < 0) {
                throw new DomainXmlException(mac != null ? "no device matching MAC address " + mac.getAttribute("address") + " found"
                        : "several interfaces: give the <mac address='...'/> of the one to detach");
            }
        }
        Element chosen = candidates.get(index);
        Element aliasElement = child(chosen, "alias");
        String alias = aliasElement == null ? null : aliasElement.getAttribute("name");
        int position = index;
        String tag = device.getTagName();
        DomainDefinition without = parse(edited(root -> {
            Element devices = child(root, "devices");
            Element victim = DomainDevices.children(devices, tag).get(position);
            devices.removeChild(victim);
        }));
        return new Removal(without, alias);
    }

    /** This definition without the device whose {@code <alias name>} is {@code alias}, or this one when none has it. */
    public DomainDefinition withoutAlias(String alias) throws DomainXmlException {
        Element devices = devices();
        for (Node node = devices.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element device && child(device, "alias") != null && child(device, "alias").getAttribute("name").equals(alias)) {
                String tag = device.getTagName();
                int position = DomainDevices.children(devices, tag).indexOf(device);
                return parse(edited(root -> {
                    Element copy = child(root, "devices");
                    copy.removeChild(DomainDevices.children(copy, tag).get(position));
                }));
            }
        }
        return this;
    }

    private Element deviceWithAlias(String alias) {
        Element devices = devices();
        for (Node node = devices.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element device && child(device, "alias") != null && child(device, "alias").getAttribute("name").equals(alias)) {
                return device;
            }
        }
        return null;
    }

    /** The XML of the last {@code <tag>} device (the one {@link #withDevice} appended, with its generated MAC), or null. */
    public String lastDeviceXml(String tag) {
        List<Element> devices = DomainDevices.children(devices(), tag);
        return devices.isEmpty() ? null : elementXml(devices.getLast());
    }

    /** Whether a device has {@code <alias name='alias'/>}. */
    public boolean hasAlias(String alias) {
        return deviceWithAlias(alias) != null;
    }

    /** The XML of the device with that alias (for moving it from one definition to another), or null. */
    public String deviceXml(String alias) {
        Element device = deviceWithAlias(alias);
        return device == null ? null : elementXml(device);
    }

    private static String elementXml(Element device) {
        try {
            Document single = DocumentBuilderFactory.newInstance().newDocumentBuilder().newDocument();
            single.appendChild(single.importNode(device, true));
            return serialise(single);
        } catch (javax.xml.parsers.ParserConfigurationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** This definition with {@code <currentMemory>} set, for the balloon's live size. */
    public DomainDefinition withCurrentMemory(long kib) throws DomainXmlException {
        return parse(edited(root -> {
            Element current = child(root, "currentMemory");
            if (current == null) {
                current = root.getOwnerDocument().createElement("currentMemory");
                root.insertBefore(current, child(root, "memory").getNextSibling());
            }
            current.setAttribute("unit", "KiB");
            current.setTextContent(Long.toString(Math.min(kib, memoryKiB)));
        }));
    }

    /** The element name of a device XML that can be attached or detached: disk or interface. */
    public static String deviceKind(String deviceXml) throws DomainXmlException {
        return attachable(deviceXml).getTagName();
    }

    private static Element attachable(String deviceXml) throws DomainXmlException {
        Element device = parseDocument(deviceXml).getDocumentElement();
        if (!device.getTagName().equals("disk") && !device.getTagName().equals("interface")) {
            throw new DomainXmlException("attaching or detaching <" + device.getTagName() + "> is not supported (disk and interface are)");
        }
        return device;
    }

    /** The XML as dumpxml shows it: the stored document, indented. */
    public String toXml() {
        return xml;
    }

    /** Serialised once: the document does not change after parsing, and dumpxml is a hot call. */
    /**
     * This definition's XML with {@code change} applied to a copy of its root element, for
     * virsh setmem/setvcpus/desc --config: the result is parsed and checked like any definition.
     */
    public String edited(java.util.function.Consumer<Element> change) {
        Document copy = (Document) document.cloneNode(true);
        change.accept(copy.getDocumentElement());
        return serialise(copy);
    }

    private static String serialise(Document document) {
        return dev.jvirt.daemon.xml.XmlDocuments.toXml(document); // indented, as virsh dumpxml shows libvirt's
    }
}
