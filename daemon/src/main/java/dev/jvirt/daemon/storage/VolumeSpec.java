package dev.jvirt.daemon.storage;

import dev.jvirt.daemon.xml.XmlDocuments;
import dev.jvirt.daemon.xml.XmlException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import java.util.Set;

/**
 * A volume to create, from libvirt's volume XML (what {@code virsh vol-create-as} and
 * {@code vol-clone} send): name, capacity (bytes unless a unit is given), format, backing store.
 * A capacity of -1 means none was given (a clone or an overlay takes its source's size).
 */
public record VolumeSpec(String name, long capacity, String format, String backingPath, String backingFormat) {

    static final Set<String> FORMATS = Set.of("raw", "qcow2");

    public static VolumeSpec parse(String xml) throws XmlException {
        Document document = XmlDocuments.parse(xml, "volume");
        Element root = document.getDocumentElement();
        String type = root.getAttribute("type");
        if (!type.isEmpty() && !type.equals("file")) {
            throw new XmlException("volume type '" + type + "' is not supported in a dir pool (file is)");
        }
        String name = XmlDocuments.name(root, "volume");
        Element capacityElement = XmlDocuments.child(root, "capacity");
        long capacity = capacityElement == null ? -1 : XmlDocuments.bytes(capacityElement, "bytes");
        String format = null;
        Element target = XmlDocuments.child(root, "target");
        if (target != null && XmlDocuments.child(target, "format") != null) {
            format = XmlDocuments.child(target, "format").getAttribute("type").trim();
            if (!FORMATS.contains(format)) {
                throw new XmlException("volume format '" + format + "' is not supported (raw and qcow2 are)");
            }
        }
        String backingPath = null;
        String backingFormat = null;
        Element backing = XmlDocuments.child(root, "backingStore");
        if (backing != null) {
            String path = XmlDocuments.text(backing, "path");
            if (path == null || path.isBlank()) {
                throw new XmlException("<backingStore> needs a <path>");
            }
            backingPath = path.trim();
            Element backingFormatElement = XmlDocuments.child(backing, "format");
            if (backingFormatElement != null) {
                backingFormat = backingFormatElement.getAttribute("type").trim();
                if (!FORMATS.contains(backingFormat)) {
                    throw new XmlException("backing store format '" + backingFormat + "' is not supported (raw and qcow2 are)");
                }
            }
        }
        return new VolumeSpec(name, capacity, format, backingPath, backingFormat);
    }
}
