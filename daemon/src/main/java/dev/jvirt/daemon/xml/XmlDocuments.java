package dev.jvirt.daemon.xml;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.InputSource;
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
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * Parsing and writing of libvirt's XML documents (pool, volume, network): hardened against
 * entity tricks, syntax errors reported with line and column, the common name/uuid rules.
 */
public final class XmlDocuments {

    private static final Pattern NAME = Pattern.compile("[^/\\x00-\\x1f]{1,200}");

    private XmlDocuments() {
    }

    /** Parses {@code xml}, whose root element must be {@code <root>}. */
    public static Document parse(String xml, String root) throws XmlException {
        Document document;
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setExpandEntityReferences(false);
            DocumentBuilder builder = factory.newDocumentBuilder();
            builder.setErrorHandler(null);
            document = builder.parse(new InputSource(new StringReader(xml)));
        } catch (SAXParseException e) {
            throw new XmlException("XML error at line " + e.getLineNumber() + ", column " + e.getColumnNumber() + ": " + e.getMessage());
        } catch (Exception e) {
            throw new XmlException("XML error: " + e.getMessage());
        }
        if (!document.getDocumentElement().getTagName().equals(root)) {
            throw new XmlException("unexpected root element <" + document.getDocumentElement().getTagName() + ">, expecting <" + root + ">");
        }
        return document;
    }

    /** The {@code <name>} of a definition, checked as libvirt checks object names. */
    public static String name(Element root, String what) throws XmlException {
        String name = text(root, "name");
        if (name == null || name.isBlank()) {
            throw new XmlException("missing " + what + " name");
        }
        name = name.trim();
        if (!NAME.matcher(name).matches() || name.equals(".") || name.equals("..")) {
            throw new XmlException(what + " name '" + name + "' cannot contain '/' or control characters");
        }
        return name;
    }

    /** The {@code <uuid>}, or a new one written into the document after {@code <name>} (as libvirt fills it in). */
    public static UUID uuid(Element root) throws XmlException {
        String text = text(root, "uuid");
        if (text != null) {
            try {
                return UUID.fromString(text.trim());
            } catch (IllegalArgumentException e) {
                throw new XmlException("malformed uuid element: '" + text.trim() + "'");
            }
        }
        UUID uuid = UUID.randomUUID();
        Element element = root.getOwnerDocument().createElement("uuid");
        element.setTextContent(uuid.toString());
        Element name = child(root, "name");
        root.insertBefore(element, name == null ? root.getFirstChild() : name.getNextSibling());
        return uuid;
    }

    /** A size element in bytes, honouring libvirt's {@code unit} attribute ({@code defaultUnit} when absent). */
    public static long bytes(Element element, String defaultUnit) throws XmlException {
        String unit = element.getAttribute("unit").isEmpty() ? defaultUnit : element.getAttribute("unit");
        String text = element.getTextContent().trim();
        long value;
        try {
            value = Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new XmlException("invalid value '" + text + "' for <" + element.getTagName() + ">");
        }
        long perUnit = switch (unit.toLowerCase(Locale.ROOT)) {
            case "b", "bytes" -> 1;
            case "k", "kib" -> 1024;
            case "kb" -> 1000;
            case "m", "mib" -> 1L << 20;
            case "mb" -> 1_000_000;
            case "g", "gib" -> 1L << 30;
            case "gb" -> 1_000_000_000;
            case "t", "tib" -> 1L << 40;
            case "tb" -> 1_000_000_000_000L;
            case "p", "pib" -> 1L << 50;
            case "pb" -> 1_000_000_000_000_000L;
            default -> throw new XmlException("unknown unit '" + unit + "' for <" + element.getTagName() + ">");
        };
        if (value < 0 || value > Long.MAX_VALUE / perUnit) {
            throw new XmlException("<" + element.getTagName() + "> value " + text + " " + unit + " is out of range");
        }
        return value * perUnit;
    }

    public static Element child(Element parent, String tag) {
        for (Node node = parent.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element element && element.getTagName().equals(tag)) {
                return element;
            }
        }
        return null;
    }

    public static String text(Element parent, String tag) {
        Element element = child(parent, tag);
        return element == null ? null : element.getTextContent();
    }

    /** Replaces (or appends) {@code <tag unit='bytes'>value</tag>} under {@code parent}. */
    public static void setBytes(Element parent, String tag, long value, Node before) {
        Element old = child(parent, tag);
        Element element = parent.getOwnerDocument().createElement(tag);
        element.setAttribute("unit", "bytes");
        element.setTextContent(Long.toString(value));
        if (old != null) {
            parent.replaceChild(element, old);
        } else {
            parent.insertBefore(element, before);
        }
    }

    /** The document as text, indented by two spaces, without an XML declaration (as virsh shows it). */
    public static String toXml(Document document) {
        try {
            stripWhitespace(document.getDocumentElement());
            Transformer transformer = TransformerFactory.newInstance().newTransformer();
            transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            transformer.setOutputProperty(OutputKeys.INDENT, "yes");
            transformer.setOutputProperty("{http://xml.apache.org/xslt}indent-amount", "2");
            StringWriter out = new StringWriter();
            transformer.transform(new DOMSource(document), new StreamResult(out));
            return out.toString().strip() + "\n";
        } catch (Exception e) {
            throw new IllegalStateException("cannot serialise XML", e);
        }
    }

    /** Whitespace-only text between elements would double up with the indenting serialiser. */
    private static void stripWhitespace(Element element) {
        Node node = element.getFirstChild();
        while (node != null) {
            Node next = node.getNextSibling();
            if (node.getNodeType() == Node.TEXT_NODE && node.getTextContent().isBlank()
                    && (node.getPreviousSibling() instanceof Element || next instanceof Element)) {
                element.removeChild(node);
            } else if (node instanceof Element child) {
                stripWhitespace(child);
            }
            node = next;
        }
    }
}
