package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.network.Network;
import dev.jvirt.daemon.network.Networks;
import dev.jvirt.daemon.rpc.XdrReader;
import dev.jvirt.daemon.rpc.XdrWriter;
import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.xml.XmlException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** The network procedures of REMOTE_PROGRAM (remote_protocol.x, "Network calls"): virsh net-*. */
final class NetworkProcedures {

    private static final int STRING_MAX = 1_048_576;

    @FunctionalInterface
    private interface Body {
        byte[] call(XdrReader args) throws ObjectException, XmlException, IOException, RemoteError;
    }

    private final Networks networks;

    NetworkProcedures(Networks networks) {
        this.networks = networks;
    }

    void register(RemoteProgram program) {
        reader(program, 36, args -> names(args.readInt(), false));
        reader(program, 38, args -> names(args.readInt(), true));
        reader(program, 50, args -> count(false));
        reader(program, 52, args -> count(true));
        writer(program, 39, args -> {
            networks.start(network(args));
            return empty();
        });
        writer(program, 41, args -> encode(new XdrWriter(), networks.define(args.readString(STRING_MAX))).toByteArray());
        writer(program, 42, args -> {
            networks.destroy(network(args));
            return empty();
        });
        reader(program, 43, args -> {
            Network network = network(args);
            args.readInt();
            return new XdrWriter().writeString(network.definition().toXml()).toByteArray();
        });
        reader(program, 44, args -> new XdrWriter().writeInt(network(args).autostart() ? 1 : 0).toByteArray());
        reader(program, 45, args -> new XdrWriter().writeString(network(args).definition().bridge()).toByteArray());
        reader(program, 46, args -> encode(new XdrWriter(), networks.byName(args.readString(STRING_MAX))).toByteArray());
        reader(program, 47, args -> encode(new XdrWriter(), networks.byUuid(uuid(args))).toByteArray());
        writer(program, 48, args -> {
            Network network = network(args);
            networks.setAutostart(network, args.readInt() != 0);
            return empty();
        });
        writer(program, 49, args -> {
            networks.undefine(network(args));
            return empty();
        });
        reader(program, 152, args -> new XdrWriter().writeInt(network(args).isActive() ? 1 : 0).toByteArray());
        reader(program, 153, args -> {
            network(args);
            return new XdrWriter().writeInt(1).toByteArray(); // every jvirt network is persistent
        });
        reader(program, 283, args -> listAll(args.readInt(), args.readInt()));
    }

    private void reader(RemoteProgram program, int number, Body body) {
        program.register(number, false, wrap(body));
    }

    private void writer(RemoteProgram program, int number, Body body) {
        program.register(number, true, wrap(body));
    }

    private static RemoteProcedure wrap(Body body) {
        return (args, session) -> {
            try {
                return body.call(args);
            } catch (ObjectException e) {
                throw ObjectErrors.of(e);
            } catch (XmlException e) {
                throw ObjectErrors.of(e);
            }
        };
    }

    private byte[] count(boolean active) {
        return new XdrWriter().writeInt((int) networks.all().stream().filter(n -> n.isActive() == active).count()).toByteArray();
    }

    private byte[] names(int max, boolean active) {
        List<String> names = networks.all().stream().filter(n -> n.isActive() == active).map(Network::name).limit(Math.max(0, max)).toList();
        XdrWriter out = new XdrWriter().writeInt(names.size());
        names.forEach(out::writeString);
        return out.toByteArray();
    }

    /** virConnectListAllNetworksFlags: each group of bits filters only when one of its bits is set. */
    private byte[] listAll(int needResults, int flags) {
        List<Network> matching = new ArrayList<>();
        for (Network network : networks.all()) {
            boolean active = network.isActive();
            if ((flags & 3) != 0 && !((flags & 1) != 0 && !active || (flags & 2) != 0 && active)) {
                continue;
            }
            if ((flags & 12) != 0 && (flags & 4) == 0) {
                continue;
            }
            if ((flags & 48) != 0 && !((flags & 16) != 0 && network.autostart() || (flags & 32) != 0 && !network.autostart())) {
                continue;
            }
            matching.add(network);
        }
        XdrWriter out = new XdrWriter();
        if (needResults != 0) {
            out.writeInt(matching.size());
            matching.forEach(n -> encode(out, n));
        } else {
            out.writeInt(0);
        }
        return out.writeInt(matching.size()).toByteArray();
    }

    /** remote_nonnull_network, found by UUID as libvirt does. */
    private Network network(XdrReader args) throws ObjectException, IOException {
        args.readString(STRING_MAX);
        return networks.byUuid(uuid(args));
    }

    private static UUID uuid(XdrReader args) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(args.readFixedOpaque(16));
        return new UUID(bytes.getLong(), bytes.getLong());
    }

    private static XdrWriter encode(XdrWriter out, Network network) {
        UUID uuid = network.definition().uuid();
        byte[] bytes = ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits()).array();
        return out.writeString(network.name()).writeFixedOpaque(bytes);
    }

    private static byte[] empty() {
        return new byte[0];
    }
}
