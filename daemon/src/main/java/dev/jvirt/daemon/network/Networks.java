package dev.jvirt.daemon.network;

import dev.jvirt.daemon.state.DefinitionDirectory;
import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.state.ObjectException.Kind;
import dev.jvirt.daemon.xml.XmlException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * The virtual networks: persistent definitions under {@code STATE_DIR/networks} and their
 * lifecycle through a {@link NetworkBackend}. A network that was active and whose bridge is still
 * up is active again after a daemon restart; autostart networks are started.
 */
public final class Networks {

    private final DefinitionDirectory files;
    private final NetworkBackend backend;
    private final Map<String, Network> byName = new LinkedHashMap<>();

    private Networks(DefinitionDirectory files, NetworkBackend backend) {
        this.files = files;
        this.backend = backend;
    }

    public static Networks open(Path stateDir, NetworkBackend backend) throws IOException {
        Networks networks = new Networks(new DefinitionDirectory(stateDir.resolve("networks")), backend);
        for (Map.Entry<String, String> entry : networks.files.load().entrySet()) {
            try {
                NetworkDefinition definition = NetworkDefinition.parse(entry.getValue(), networks.freeBridgeName());
                networks.byName.put(definition.name(), new Network(definition, networks.files.autostart(definition.name())));
            } catch (XmlException e) {
                System.err.println("jvirtd: ignoring network " + entry.getKey() + ": " + e.getMessage());
            }
        }
        for (Network network : networks.all()) {
            if (networks.files.wasActive(network.name()) && backend.isUp(network.definition())) {
                network.setActive(true);
            } else if (network.autostart()) {
                try {
                    networks.start(network);
                } catch (ObjectException e) {
                    System.err.println("jvirtd: cannot autostart network '" + network.name() + "': " + e.getMessage());
                }
            }
        }
        return networks;
    }

    public synchronized List<Network> all() {
        List<Network> list = new ArrayList<>(byName.values());
        list.sort(Comparator.comparing(Network::name));
        return list;
    }

    public synchronized Network byName(String name) throws ObjectException {
        Network network = byName.get(name);
        if (network == null) {
            throw new ObjectException(Kind.NO_NETWORK, "Network not found: no network with matching name '" + name + "'");
        }
        return network;
    }

    public synchronized Network byUuid(UUID uuid) throws ObjectException {
        for (Network network : byName.values()) {
            if (network.definition().uuid().equals(uuid)) {
                return network;
            }
        }
        throw new ObjectException(Kind.NO_NETWORK, "Network not found: no network with matching uuid '" + uuid + "'");
    }

    /** virbrN with the lowest N no defined network uses (libvirt's choice for networks naming no bridge). */
    public synchronized String freeBridgeName() {
        Set<String> used = new HashSet<>();
        byName.values().forEach(n -> used.add(n.definition().bridge()));
        for (int i = 0; ; i++) {
            if (!used.contains("virbr" + i)) {
                return "virbr" + i;
            }
        }
    }

    public synchronized Network define(String xml) throws ObjectException, XmlException, IOException {
        NetworkDefinition definition = NetworkDefinition.parse(xml, freeBridgeName());
        Network existing = byName.get(definition.name());
        for (Network other : byName.values()) {
            if (other == existing) {
                continue;
            }
            if (other.definition().uuid().equals(definition.uuid())) {
                throw new ObjectException(Kind.EXISTS, "operation failed: network '" + other.name() + "' already exists with uuid " + definition.uuid());
            }
            if (other.definition().bridge().equals(definition.bridge()) && definition.mode() != NetworkDefinition.Mode.BRIDGE) {
                throw new ObjectException(Kind.EXISTS, "operation failed: bridge name '" + definition.bridge() + "' already in use by network '"
                        + other.name() + "'");
            }
        }
        if (existing != null && !existing.definition().uuid().equals(definition.uuid())) {
            throw new ObjectException(Kind.EXISTS, "operation failed: network '" + definition.name() + "' is already defined with uuid "
                    + existing.definition().uuid());
        }
        if (existing != null && existing.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: network '" + definition.name()
                    + "' is active; destroy it before redefining");
        }
        files.save(definition.name(), definition.toXml());
        if (existing != null) {
            existing.redefine(definition);
            return existing;
        }
        Network network = new Network(definition, false);
        byName.put(definition.name(), network);
        return network;
    }

    public synchronized void undefine(Network network) throws ObjectException, IOException {
        if (network.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: network '" + network.name() + "' is still active");
        }
        files.delete(network.name());
        byName.remove(network.name());
    }

    public synchronized void start(Network network) throws ObjectException, IOException {
        if (network.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: network is already active");
        }
        try {
            backend.start(network.definition());
        } catch (IOException e) {
            throw new ObjectException(Kind.FAILED, "cannot start network '" + network.name() + "': " + e.getMessage());
        }
        files.setActive(network.name(), true);
        network.setActive(true);
    }

    public synchronized void destroy(Network network) throws ObjectException, IOException {
        if (!network.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: network is not active");
        }
        try {
            backend.stop(network.definition());
        } catch (IOException e) {
            throw new ObjectException(Kind.FAILED, "cannot stop network '" + network.name() + "': " + e.getMessage());
        }
        files.setActive(network.name(), false);
        network.setActive(false);
    }

    public synchronized void setAutostart(Network network, boolean on) throws IOException {
        files.setAutostart(network.name(), on);
        network.setAutostart(on);
    }
}
