package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.domain.Domain;
import dev.jvirt.daemon.domain.DomainDefinition;
import dev.jvirt.daemon.domain.DomainStore;
import dev.jvirt.daemon.domain.DomainXmlException;
import dev.jvirt.daemon.rpc.XdrReader;
import dev.jvirt.daemon.rpc.XdrWriter;
import dev.jvirt.daemon.vm.VmOperationException;
import dev.jvirt.daemon.vm.VmSupervisor;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Persistent-configuration changes and queries virsh makes beside define: setvcpus/setmem/
 * setmaxmem --config, vcpucount, desc/title metadata, and the host's free memory. jvirt has no
 * vCPU hotplug or balloon yet, so live changes are refused with OPERATION_UNSUPPORTED; and a
 * domain has one vCPU count (current equals maximum).
 */
final class DomainConfigProcedures {

    private static final int STRING_MAX = 1_048_576;
    private static final int AFFECT_LIVE = 1;
    private static final int AFFECT_CONFIG = 2;
    private static final int MAXIMUM = 4;
    private static final int METADATA_DESCRIPTION = 0;
    private static final int METADATA_TITLE = 1;
    private static final int NO_DOMAIN_METADATA = 80;
    private static final int OPERATION_UNSUPPORTED = 84;

    private final RemoteProgram program;
    private final DomainStore domains;
    private final VmSupervisor vms;

    DomainConfigProcedures(RemoteProgram program, DomainStore domains, VmSupervisor vms) {
        this.program = program;
        this.domains = domains;
        this.vms = vms;
    }

    void register() {
        program.register(200, false, (args, session) -> {
            Domain domain = program.domain(args);
            args.readInt();
            return new XdrWriter().writeInt(domain.definition().vcpus()).toByteArray();
        });
        program.register(199, true, (args, session) -> {
            Domain domain = program.domain(args);
            int count = args.readInt();
            requireConfigOnly(domain, args.readInt(), "the vCPU count");
            if (count < 1 || count > 255) {
                throw new RemoteError(RemoteError.INVALID_ARG, "invalid argument: vCPU count " + Integer.toUnsignedString(count) + " is out of range (1-255)");
            }
            redefine(domain, root -> text(root, "vcpu", Integer.toString(count), "memory"));
            return new byte[0];
        });
        program.register(31, true, (args, session) -> {
            Domain domain = program.domain(args);
            setMemory(domain, args.readHyper(), AFFECT_LIVE);
            return new byte[0];
        });
        program.register(204, true, (args, session) -> {
            Domain domain = program.domain(args);
            long kib = args.readHyper();
            int flags = args.readInt();
            setMemory(domain, kib, flags);
            return new byte[0];
        });
        program.register(265, false, (args, session) -> {
            Domain domain = program.domain(args);
            int type = args.readInt();
            args.readOptionalString(STRING_MAX);
            args.readInt();
            String value = metadataValue(domain, type);
            if (value == null) {
                throw new RemoteError(NO_DOMAIN_METADATA, "metadata not found: Requested metadata element is not present");
            }
            return new XdrWriter().writeString(value).toByteArray();
        });
        program.register(264, true, (args, session) -> {
            Domain domain = program.domain(args);
            int type = args.readInt();
            String value = args.readOptionalString(STRING_MAX);
            args.readOptionalString(STRING_MAX);
            args.readOptionalString(STRING_MAX);
            int flags = args.readInt();
            requireConfigOnly(domain, flags, "metadata");
            String tag = metadataTag(type);
            redefine(domain, root -> {
                if (value == null || value.isEmpty()) {
                    remove(root, tag);
                } else {
                    text(root, tag, value, tag.equals("title") ? "uuid" : "title");
                }
            });
            return new byte[0];
        });
        program.register(102, false, (args, session) -> new XdrWriter().writeHyper(freeMemoryBytes()).toByteArray());
        program.register(101, false, (args, session) -> {
            int start = args.readInt();
            int max = args.readInt();
            XdrWriter out = new XdrWriter();
            if (start == 0 && max > 0) {
                return out.writeInt(1).writeHyper(freeMemoryBytes()).toByteArray(); // one NUMA cell
            }
            if (start > 0) {
                throw new RemoteError(RemoteError.INVALID_ARG, "invalid argument: start cell " + start + " out of range (0-0)");
            }
            return out.writeInt(0).toByteArray();
        });
    }

    /** virsh setmem/setmaxmem: the balloon of the running domain (live), the definition (config), or both. */
    private void setMemory(Domain domain, long kib, int flags) throws RemoteError, IOException {
        if (kib <= 0) {
            throw new RemoteError(RemoteError.INVALID_ARG, "invalid argument: memory must be positive");
        }
        boolean current = (flags & (AFFECT_LIVE | AFFECT_CONFIG)) == 0;
        boolean live = (flags & AFFECT_LIVE) != 0 || current && domain.isActive();
        boolean config = (flags & AFFECT_CONFIG) != 0 || current && !domain.isActive();
        if (live && !domain.isActive()) {
            throw new RemoteError(RemoteError.OPERATION_INVALID, "Requested operation is not valid: domain is not running");
        }
        if (live && (flags & MAXIMUM) != 0) {
            throw new RemoteError(OPERATION_UNSUPPORTED, "Operation not supported: cannot resize the maximum memory on an active domain");
        }
        if (live) {
            try {
                vms.setMemory(domain, kib);
            } catch (VmOperationException e) {
                throw new RemoteError(e.invalid() ? RemoteError.OPERATION_INVALID : RemoteError.OPERATION_FAILED, e.getMessage());
            }
        }
        if (!config) {
            return;
        }
        DomainDefinition definition = domain.definition();
        if ((flags & MAXIMUM) != 0) {
            long currentKiB = Math.min(definition.currentMemoryKiB(), kib);
            redefine(domain, root -> {
                sizeKiB(root, "memory", kib, "vcpu");
                sizeKiB(root, "currentMemory", currentKiB, "memory");
            });
        } else {
            if (kib > definition.memoryKiB()) {
                throw new RemoteError(RemoteError.INVALID_ARG, "invalid argument: cannot set memory higher than max memory ("
                        + kib + " > " + definition.memoryKiB() + " KiB)");
            }
            redefine(domain, root -> sizeKiB(root, "currentMemory", kib, "memory"));
        }
    }

    /** Live changes need vCPU hotplug, which jvirt-vmm does not have; config changes are fine. */
    private static void requireConfigOnly(Domain domain, int flags, String what) throws RemoteError {
        boolean live = (flags & AFFECT_LIVE) != 0 || (flags & (AFFECT_LIVE | AFFECT_CONFIG)) == 0 && domain.isActive();
        if (live) {
            throw new RemoteError(OPERATION_UNSUPPORTED, "Operation not supported: changing " + what
                    + " of a running domain is not supported yet; use --config to change the definition");
        }
    }

    private static String metadataTag(int type) throws RemoteError {
        return switch (type) {
            case METADATA_DESCRIPTION -> "description";
            case METADATA_TITLE -> "title";
            default -> throw new RemoteError(RemoteError.NO_SUPPORT, "this function is not supported by the connection driver: "
                    + "custom <metadata> elements");
        };
    }

    private static String metadataValue(Domain domain, int type) throws RemoteError {
        return domain.definition().topLevelText(metadataTag(type));
    }

    private void redefine(Domain domain, Consumer<Element> change) throws RemoteError, IOException {
        RemoteProgram.requirePersistent(domain, "transient domains do not have any persistent config");
        try {
            domains.define(DomainDefinition.parse(domain.definition().edited(change)));
        } catch (DomainXmlException e) {
            throw new RemoteError(RemoteError.XML_ERROR, "XML error: " + e.getMessage());
        }
    }

    private static void sizeKiB(Element root, String tag, long kib, String after) {
        text(root, tag, Long.toString(kib), after).setAttribute("unit", "KiB");
    }

    /** Sets {@code <tag>}'s text, creating it after {@code <after>} (or at the end) when absent. */
    private static Element text(Element root, String tag, String value, String after) {
        Element element = child(root, tag);
        if (element == null) {
            element = root.getOwnerDocument().createElement(tag);
            Element anchor = child(root, after);
            root.insertBefore(element, anchor == null ? null : anchor.getNextSibling());
        }
        element.setTextContent(value);
        return element;
    }

    private static void remove(Element root, String tag) {
        Element element = child(root, tag);
        if (element != null) {
            root.removeChild(element);
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

    private static long freeMemoryBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemFree:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("/proc/meminfo has no MemFree line");
    }
}
