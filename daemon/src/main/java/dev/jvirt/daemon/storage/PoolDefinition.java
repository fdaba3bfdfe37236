package dev.jvirt.daemon.storage;

import dev.jvirt.daemon.xml.XmlDocuments;
import dev.jvirt.daemon.xml.XmlException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import java.nio.file.Path;
import java.util.UUID;

/**
 * A storage pool as libvirt's pool XML defines it (formatstorage). jvirt has directory pools
 * ({@code type='dir'}): the target path is a directory and every file in it is a volume. The
 * document is kept, so elements jvirt does not interpret (permissions, source) survive.
 */
public final class PoolDefinition {

    private final Document document;
    private final String name;
    private final UUID uuid;
    private final Path target;

    private PoolDefinition(Document document, String name, UUID uuid, Path target) {
        this.document = document;
        this.name = name;
        this.uuid = uuid;
        this.target = target;
    }

    public static PoolDefinition parse(String xml) throws XmlException {
        Document document = XmlDocuments.parse(xml, "pool");
        Element root = document.getDocumentElement();
        String type = root.getAttribute("type");
        if (type.isEmpty()) {
            throw new XmlException("storage pool type is missing: jvirt supports type='dir'");
        }
        if (!type.equals("dir")) {
            throw new XmlException("storage pool type '" + type + "' is not supported (dir is)");
        }
        String name = XmlDocuments.name(root, "storage pool");
        UUID uuid = XmlDocuments.uuid(root);
        Element targetElement = XmlDocuments.child(root, "target");
        String path = targetElement == null ? null : XmlDocuments.text(targetElement, "path");
        if (path == null || path.isBlank()) {
            throw new XmlException("missing storage pool target path: a dir pool needs <target><path>");
        }
        Path target = Path.of(path.trim());
        if (!target.isAbsolute()) {
            throw new XmlException("storage pool target path '" + path.trim() + "' must be absolute");
        }
        return new PoolDefinition(document, name, uuid, target.normalize());
    }

    public String name() {
        return name;
    }

    public UUID uuid() {
        return uuid;
    }

    public Path target() {
        return target;
    }

    /** The XML as stored. */
    public synchronized String toXml() {
        return XmlDocuments.toXml(document);
    }

    /** The XML as pool-dumpxml shows it: with capacity, allocation and available filled in. */
    public synchronized String toXml(long capacity, long allocation, long available) {
        Document copy = (Document) document.cloneNode(true);
        Element root = copy.getDocumentElement();
        Element after = XmlDocuments.child(root, "source") != null ? XmlDocuments.child(root, "source") : XmlDocuments.child(root, "target");
        XmlDocuments.setBytes(root, "capacity", capacity, after);
        XmlDocuments.setBytes(root, "allocation", allocation, after);
        XmlDocuments.setBytes(root, "available", available, after);
        return XmlDocuments.toXml(copy);
    }
}
