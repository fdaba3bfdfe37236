package dev.jvirt.daemon.network;

import dev.jvirt.daemon.xml.XmlDocuments;
import dev.jvirt.daemon.xml.XmlException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * A virtual network as libvirt's network XML defines it (formatnetwork): an isolated bridge
 * (no {@code <forward>}), a NAT network ({@code <forward mode='nat'/>}: bridge, address, DHCP,
 * masquerading), or a host bridge ({@code <forward mode='bridge'/><bridge name='br0'/>}).
 * The document is kept, so elements jvirt does not interpret survive.
 */
public final class NetworkDefinition {

    public enum Mode { ISOLATED, NAT, BRIDGE }

    /** IPv4 configuration of the bridge: its address, prefix length and optional DHCP range. */
    public record Ipv4(String address, int prefix, String dhcpStart, String dhcpEnd) { }

    private static final Pattern INTERFACE_NAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");
    private static final Set<String> OTHER_MODES = Set.of("route", "open", "private", "vepa", "passthrough", "hostdev");

    private final Document document;
    private final String name;
    private final UUID uuid;
    private final Mode mode;
    private final String bridge;
    private final Ipv4 ipv4;

    private NetworkDefinition(Document document, String name, UUID uuid, Mode mode, String bridge, Ipv4 ipv4) {
        this.document = document;
        this.name = name;
        this.uuid = uuid;
        this.mode = mode;
        this.bridge = bridge;
        this.ipv4 = ipv4;
    }

    /** Parses a definition; {@code freeBridgeName} is used (and written in) when a NAT or isolated network names no bridge. */
    public static NetworkDefinition parse(String xml, String freeBridgeName) throws XmlException {
        Document document = XmlDocuments.parse(xml, "network");
        Element root = document.getDocumentElement();
        String name = XmlDocuments.name(root, "network");
        UUID uuid = XmlDocuments.uuid(root);
        Mode mode = Mode.ISOLATED;
        Element forward = XmlDocuments.child(root, "forward");
        if (forward != null) {
            String value = forward.getAttribute("mode").isEmpty() ? "nat" : forward.getAttribute("mode");
            mode = switch (value) {
                case "nat" -> Mode.NAT;
                case "bridge" -> Mode.BRIDGE;
                default -> throw new XmlException("network forward mode '" + value + "' is not supported (nat, bridge and isolated are)"
                        + (OTHER_MODES.contains(value) ? "" : "; it is not a libvirt mode either"));
            };
        }
        Element bridgeElement = XmlDocuments.child(root, "bridge");
        String bridge = bridgeElement == null ? "" : bridgeElement.getAttribute("name").trim();
        if (bridge.isEmpty()) {
            if (mode == Mode.BRIDGE) {
                throw new XmlException("network '" + name + "' has forward mode 'bridge' but no <bridge name='...'/>");
            }
            bridge = freeBridgeName;
            if (bridgeElement == null) {
                bridgeElement = document.createElement("bridge");
                Element after = XmlDocuments.child(root, "forward") != null ? XmlDocuments.child(root, "forward") : XmlDocuments.child(root, "uuid");
                root.insertBefore(bridgeElement, after.getNextSibling());
            }
            bridgeElement.setAttribute("name", bridge);
        }
        if (!INTERFACE_NAME.matcher(bridge).matches()) {
            throw new XmlException("bridge name '" + bridge + "' is not a valid interface name (1-15 of A-Z a-z 0-9 _ . -)");
        }
        Ipv4 ipv4 = null;
        Element ip = XmlDocuments.child(root, "ip");
        if (ip != null) {
            if (mode == Mode.BRIDGE) {
                throw new XmlException("network '" + name + "' uses a host bridge and cannot have an <ip> element");
            }
            ipv4 = ipv4(ip);
        } else if (mode == Mode.NAT) {
            throw new XmlException("NAT network '" + name + "' needs an <ip address='...' netmask='...'> element");
        }
        return new NetworkDefinition(document, name, uuid, mode, bridge, ipv4);
    }

    private static Ipv4 ipv4(Element ip) throws XmlException {
        String family = ip.getAttribute("family");
        if (!family.isEmpty() && !family.equals("ipv4")) {
            throw new XmlException("ip family '" + family + "' is not supported (ipv4 is)");
        }
        String address = ip.getAttribute("address").trim();
        int prefix;
        if (!ip.getAttribute("prefix").isEmpty()) {
            try {
                prefix = Integer.parseInt(ip.getAttribute("prefix").trim());
            } catch (NumberFormatException e) {
                throw new XmlException("invalid prefix '" + ip.getAttribute("prefix") + "'");
            }
        } else if (!ip.getAttribute("netmask").isEmpty()) {
            int mask = toInt(ip.getAttribute("netmask").trim(), "netmask");
            prefix = Integer.bitCount(mask);
            if (mask != (prefix == 0 ? 0 : -1 << (32 - prefix))) {
                throw new XmlException("netmask '" + ip.getAttribute("netmask") + "' is not contiguous");
            }
        } else {
            throw new XmlException("<ip> needs a netmask or prefix attribute");
        }
        if (prefix < 1 || prefix > 30) {
            throw new XmlException("prefix " + prefix + " is out of range (1-30)");
        }
        toInt(address, "address");
        String start = null;
        String end = null;
        Element dhcp = XmlDocuments.child(ip, "dhcp");
        if (dhcp != null && XmlDocuments.child(dhcp, "range") != null) {
            Element range = XmlDocuments.child(dhcp, "range");
            start = range.getAttribute("start").trim();
            end = range.getAttribute("end").trim();
            int network = toInt(address, "address") & (-1 << (32 - prefix));
            for (String bound : new String[] {start, end}) {
                if ((toInt(bound, "DHCP range") & (-1 << (32 - prefix))) != network) {
                    throw new XmlException("DHCP range address " + bound + " is outside " + address + "/" + prefix);
                }
            }
            if (Integer.compareUnsigned(toInt(start, "DHCP range"), toInt(end, "DHCP range")) > 0) {
                throw new XmlException("DHCP range start " + start + " is after its end " + end);
            }
        }
        return new Ipv4(address, prefix, start, end);
    }

    private static int toInt(String dotted, String what) throws XmlException {
        if (!dotted.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
            throw new XmlException("invalid IPv4 " + what + " '" + dotted + "'");
        }
        try {
            InetAddress address = InetAddress.getByName(dotted);
            if (!(address instanceof Inet4Address)) {
                throw new XmlException("invalid IPv4 " + what + " '" + dotted + "'");
            }
            byte[] b = address.getAddress();
            return (b[0] & 0xFF) << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF);
        } catch (UnknownHostException e) {
            throw new XmlException("invalid IPv4 " + what + " '" + dotted + "'");
        }
    }

    /** The subnet in CIDR form, e.g. 192.168.100.0/24. */
    public String subnet() {
        try {
            int network = toInt(ipv4.address(), "address") & (-1 << (32 - ipv4.prefix()));
            return (network >>> 24) + "." + (network >>> 16 & 0xFF) + "." + (network >>> 8 & 0xFF) + "." + (network & 0xFF) + "/" + ipv4.prefix();
        } catch (XmlException e) {
            throw new IllegalStateException(e);
        }
    }

    public String name() {
        return name;
    }

    public UUID uuid() {
        return uuid;
    }

    public Mode mode() {
        return mode;
    }

    public String bridge() {
        return bridge;
    }

    /** Null for a host-bridge network or an isolated one without an address. */
    public Ipv4 ipv4() {
        return ipv4;
    }

    public synchronized String toXml() {
        return XmlDocuments.toXml(document);
    }
}
