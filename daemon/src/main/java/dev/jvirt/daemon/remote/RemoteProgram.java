package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.domain.Domain;
import dev.jvirt.daemon.domain.DomainDefinition;
import dev.jvirt.daemon.domain.DomainStore;
import dev.jvirt.daemon.domain.DomainXmlException;
import dev.jvirt.daemon.network.Networks;
import dev.jvirt.daemon.rpc.XdrReader;
import dev.jvirt.daemon.storage.StoragePools;
import dev.jvirt.daemon.storage.Volumes;
import dev.jvirt.daemon.rpc.XdrWriter;
import dev.jvirt.daemon.vm.VmStartException;
import dev.jvirt.daemon.vm.VmSupervisor;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * REMOTE_PROGRAM (src/remote/remote_protocol.x): the procedures virsh, libvirt-python and
 * libvirt-java call, decoded from XDR, carried out on the domain store, and encoded back.
 * Procedures that are not here are answered with VIR_ERR_NO_SUPPORT so clients fall back.
 */
public final class RemoteProgram {

    public static final int PROGRAM = 0x20008086;
    public static final int VERSION = 1;

    private static final int STRING_MAX = 1_048_576;
    private static final int CONNECT_RO = 1;
    private static final int START_PAUSED = 1;

    /** Domain procedures that change something: refused on read-only connections. */
    private static final Set<Integer> MUTATING_DOMAIN = Set.of(8, 9, 10, 11, 12, 13, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
            196, 231, 234, 245, 258, 350);
    /** Procedures allowed before CONNECT_OPEN. */
    private static final Set<Integer> BEFORE_OPEN = Set.of(1, 2, 60, 66, 149);

    private final DomainStore domains;
    private final VmSupervisor vms;
    private final Map<Integer, RemoteProcedure> procedures = new HashMap<>();
    private final Set<Integer> mutating = new HashSet<>(MUTATING_DOMAIN);
    private final Set<Integer> reportedUnsupported = ConcurrentHashMap.newKeySet();

    public RemoteProgram(DomainStore domains, VmSupervisor vms, StoragePools pools, Volumes volumes, Networks networks) {
        this.domains = domains;
        this.vms = vms;
        new StorageProcedures(pools, volumes).register(this);
        new NetworkProcedures(networks).register(this);
        new DomainConfigProcedures(this, domains, vms).register();
        new DomainDeviceProcedures(this, domains, vms).register();
        DomainEvents events = new DomainEvents();
        domains.addListener(events);
        register(105, false, (args, session) -> {
            events.subscribe(session);
            return new XdrWriter().writeInt(1).toByteArray();
        });
        register(106, false, (args, session) -> {
            events.unsubscribe(session);
            return new XdrWriter().writeInt(0).toByteArray();
        });
        register(167, false, (args, session) -> {
            requireLifecycle(args.readInt());
            events.subscribe(session);
            return new byte[0];
        });
        register(168, false, (args, session) -> {
            requireLifecycle(args.readInt());
            events.unsubscribe(session);
            return new byte[0];
        });
        procedures.put(9, (args, session) -> {
            start(domain(args));
            return empty();
        });
        procedures.put(196, (args, session) -> {
            Domain domain = domain(args);
            int flags = args.readInt();
            start(domain, (flags & START_PAUSED) != 0);
            return encodeDomain(new XdrWriter(), domain).toByteArray();
        });
        procedures.put(10, (args, session) -> {
            String xml = args.readString(STRING_MAX);
            int flags = args.readInt();
            return createTransient(xml, (flags & START_PAUSED) != 0);
        });
        procedures.put(12, (args, session) -> lifecycle(domain(args), vms::destroy));
        procedures.put(234, (args, session) -> {
            Domain domain = domain(args);
            args.readInt();
            return lifecycle(domain, vms::destroy);
        });
        procedures.put(33, (args, session) -> lifecycle(domain(args), vms::shutdown));
        procedures.put(258, (args, session) -> {
            Domain domain = domain(args);
            args.readInt();
            return lifecycle(domain, vms::shutdown);
        });
        procedures.put(27, (args, session) -> {
            Domain domain = domain(args);
            args.readInt();
            return lifecycle(domain, vms::reboot);
        });
        procedures.put(34, (args, session) -> lifecycle(domain(args), vms::suspend));
        procedures.put(28, (args, session) -> lifecycle(domain(args), vms::resume));
        procedures.put(1, this::connectOpen);
        procedures.put(2, (args, session) -> empty());
        procedures.put(3, (args, session) -> new XdrWriter().writeString("QEMU").toByteArray());
        procedures.put(4, (args, session) -> new XdrWriter().writeHyper(7_002_000).toByteArray());
        procedures.put(5, (args, session) -> new XdrWriter().writeInt(255).toByteArray());
        procedures.put(6, (args, session) -> nodeInfo());
        procedures.put(7, (args, session) -> new XdrWriter().writeString(Capabilities.xml()).toByteArray());
        procedures.put(11, (args, session) -> define(args.readString(STRING_MAX)));
        procedures.put(350, (args, session) -> {
            String xml = args.readString(STRING_MAX);
            args.readInt(); // flags (validation is always on)
            return define(xml);
        });
        procedures.put(14, (args, session) -> {
            Domain domain = domain(args);
            int flags = args.readInt();
            return new XdrWriter().writeString(liveXml(domain, flags)).toByteArray();
        });
        procedures.put(15, (args, session) -> new XdrWriter().writeInt(domain(args).autostart() ? 1 : 0).toByteArray());
        procedures.put(16, (args, session) -> domainInfo(domain(args)));
        procedures.put(17, (args, session) -> new XdrWriter().writeHyper(domain(args).definition().memoryKiB()).toByteArray());
        procedures.put(18, (args, session) -> new XdrWriter().writeInt(domain(args).definition().vcpus()).toByteArray());
        procedures.put(19, (args, session) -> new XdrWriter().writeString(domain(args).definition().osType()).toByteArray());
        procedures.put(21, (args, session) -> names(args.readInt(), false));
        procedures.put(22, (args, session) -> {
            int id = args.readInt();
            Domain domain = domains.byId(id);
            if (domain == null) {
                throw RemoteError.noDomain("no domain with matching id " + id);
            }
            return encodeDomain(new XdrWriter(), domain).toByteArray();
        });
        procedures.put(23, (args, session) -> {
            String name = args.readString(STRING_MAX);
            Domain domain = domains.byName(name);
            if (domain == null) {
                throw RemoteError.noDomain("no domain with matching name '" + name + "'");
            }
            return encodeDomain(new XdrWriter(), domain).toByteArray();
        });
        procedures.put(24, (args, session) -> {
            UUID uuid = uuid(args.readFixedOpaque(16));
            Domain domain = domains.byUuid(uuid);
            if (domain == null) {
                throw RemoteError.noDomain("no domain with matching uuid '" + uuid + "'");
            }
            return encodeDomain(new XdrWriter(), domain).toByteArray();
        });
        procedures.put(25, (args, session) -> new XdrWriter().writeInt(count(false)).toByteArray());
        procedures.put(29, (args, session) -> {
            Domain domain = requirePersistent(domain(args), "cannot set autostart for transient domain");
            domains.setAutostart(domain, args.readInt() != 0);
            return empty();
        });
        procedures.put(35, (args, session) -> undefine(domain(args)));
        procedures.put(231, (args, session) -> {
            Domain domain = domain(args);
            args.readInt();
            return undefine(domain);
        });
        procedures.put(37, (args, session) -> ids(args.readInt()));
        procedures.put(51, (args, session) -> new XdrWriter().writeInt(count(true)).toByteArray());
        procedures.put(59, (args, session) -> new XdrWriter().writeString(InetAddress.getLocalHost().getHostName()).toByteArray());
        procedures.put(60, (args, session) -> new XdrWriter().writeInt(supportsFeature(args.readInt()) ? 1 : 0).toByteArray());
        procedures.put(66, (args, session) -> new XdrWriter().writeInt(1).writeInt(0).toByteArray()); // [REMOTE_AUTH_NONE]
        procedures.put(110, (args, session) -> new XdrWriter().writeString("qemu:///system").toByteArray());
        procedures.put(121, (args, session) -> {
            domain(args);
            return new XdrWriter().writeInt(0).writeInt(0).toByteArray(); // no label, not enforcing
        });
        procedures.put(122, (args, session) -> new XdrWriter().writeInt(0).writeInt(0).toByteArray()); // no security model
        procedures.put(149, (args, session) -> new XdrWriter().writeInt(1).toByteArray());
        procedures.put(150, (args, session) -> new XdrWriter().writeInt(domain(args).isActive() ? 1 : 0).toByteArray());
        procedures.put(151, (args, session) -> new XdrWriter().writeInt(domain(args).persistent() ? 1 : 0).toByteArray());
        procedures.put(157, (args, session) -> new XdrWriter().writeHyper(9_000_000).toByteArray());
        procedures.put(183, (args, session) -> {
            domain(args);
            args.readInt();
            return new XdrWriter().writeInt(0).toByteArray(); // no managed save images
        });
        procedures.put(202, (args, session) -> {
            domain(args);
            return new XdrWriter().writeInt(0).toByteArray();
        });
        procedures.put(212, (args, session) -> {
            Domain domain = domain(args);
            args.readInt();
            return new XdrWriter().writeInt(domain.state()).writeInt(domain.reason()).toByteArray();
        });
        procedures.put(273, (args, session) -> listAll(args.readInt(), args.readInt()));
    }

    /** Only lifecycle events (VIR_DOMAIN_EVENT_ID_LIFECYCLE, 0) are sent so far. */
    private static void requireLifecycle(int eventId) throws RemoteError {
        if (eventId != 0) {
            throw new RemoteError(RemoteError.NO_SUPPORT, "this function is not supported by the connection driver: domain event "
                    + eventId + " (only lifecycle events are sent)");
        }
    }

    /** Adds a procedure; {@code changesState} ones are refused on read-only connections. */
    void register(int number, boolean changesState, RemoteProcedure procedure) {
        if (procedures.putIfAbsent(number, procedure) != null) {
            throw new IllegalStateException("procedure " + number + " registered twice");
        }
        if (changesState) {
            mutating.add(number);
        }
    }

    /** The procedure numbers served, for the record. */
    public Set<Integer> supported() {
        return new java.util.TreeSet<>(procedures.keySet());
    }

    /** Runs one call; the result is the reply payload, or a RemoteError for an error reply. */
    public byte[] dispatch(int procedure, ByteBuffer payload, Session session) throws RemoteError {
        if (!session.isOpen() && !BEFORE_OPEN.contains(procedure)) {
            throw new RemoteError(RemoteError.RPC, "connection not open");
        }
        if (session.isReadOnly() && mutating.contains(procedure)) {
            throw new RemoteError(RemoteError.OPERATION_DENIED, "operation forbidden: read only access prevents this operation");
        }
        RemoteProcedure handler = procedures.get(procedure);
        if (handler == null) {
            if (reportedUnsupported.add(procedure)) {
                // Logged once each: tells us which calls real clients make that we do not serve yet.
                System.err.println("jvirtd: unsupported procedure " + procedure + " answered with VIR_ERR_NO_SUPPORT");
            }
            throw RemoteError.unsupported(procedure);
        }
        try {
            return handler.call(new XdrReader(payload), session);
        } catch (RemoteError e) {
            throw e;
        } catch (IOException e) {
            throw new RemoteError(RemoteError.OPERATION_FAILED, "operation failed: " + e.getMessage());
        }
    }

    @FunctionalInterface
    private interface VmAction {
        void apply(Domain domain) throws IOException;
    }

    private void start(Domain domain) throws RemoteError, IOException {
        start(domain, false);
    }

    private void start(Domain domain, boolean paused) throws RemoteError, IOException {
        try {
            if (paused) {
                vms.startPaused(domain);
            } else {
                vms.start(domain);
            }
        } catch (VmStartException e) {
            throw new RemoteError(RemoteError.OPERATION_FAILED, e.getMessage());
        }
    }

    /** virsh create: a transient domain, started at once, gone when it stops (or if it cannot start). */
    private byte[] createTransient(String xml, boolean paused) throws RemoteError, IOException {
        Domain domain;
        try {
            domain = domains.createTransient(DomainDefinition.parse(xml));
        } catch (DomainXmlException e) {
            throw new RemoteError(RemoteError.XML_ERROR, "XML error: " + e.getMessage());
        }
        try {
            start(domain, paused);
        } finally {
            if (!domain.isActive()) {
                domains.forget(domain);
            }
        }
        return encodeDomain(new XdrWriter(), domain).toByteArray();
    }

    private static byte[] lifecycle(Domain domain, VmAction action) throws RemoteError, IOException {
        if (!domain.isActive()) {
            throw new RemoteError(RemoteError.OPERATION_INVALID, "Requested operation is not valid: domain is not running");
        }
        action.apply(domain);
        return empty();
    }

    private byte[] connectOpen(XdrReader args, Session session) throws IOException {
        String name = args.readOptionalString(STRING_MAX);
        int flags = args.readInt();
        session.opened((flags & CONNECT_RO) != 0);
        return empty();
    }

    private static boolean supportsFeature(int feature) {
        // VIR_DRV_FEATURE_TYPED_PARAM_STRING (9) and PROGRAM_KEEPALIVE (10); nothing else yet.
        return feature == 9 || feature == 10;
    }

    private byte[] define(String xml) throws RemoteError, IOException {
        try {
            Domain domain = domains.define(DomainDefinition.parse(xml));
            return encodeDomain(new XdrWriter(), domain).toByteArray();
        } catch (DomainXmlException e) {
            throw new RemoteError(RemoteError.XML_ERROR, "XML error: " + e.getMessage());
        }
    }

    /** The live XML of a running domain carries its id on the root element, as libvirt's does; VIR_DOMAIN_XML_INACTIVE (2) asks for the definition. */
    private String liveXml(Domain domain, int flags) {
        DomainDefinition live = vms.liveDefinition(domain);
        int id = domain.id();
        if (!domain.isActive() || id < 0 || (flags & 2) != 0 || live == null) {
            return domain.definition().toXml();
        }
        String xml = live.toXml();
        int end = xml.indexOf('>', xml.indexOf("<domain"));
        boolean selfClosing = xml.charAt(end - 1) == '/';
        int at = selfClosing ? end - 1 : end;
        return xml.substring(0, at) + " id=\"" + id + "\"" + xml.substring(at);
    }

    /** A running domain is not stopped: it carries on as a transient one and vanishes when it stops, as in libvirt. */
    private byte[] undefine(Domain domain) throws RemoteError, IOException {
        domains.undefine(requirePersistent(domain, "cannot undefine transient domain"));
        return empty();
    }

    /** Transient domains have no persistent configuration to change (libvirt's wording). */
    static Domain requirePersistent(Domain domain, String refusal) throws RemoteError {
        if (!domain.persistent()) {
            throw new RemoteError(RemoteError.OPERATION_INVALID, "Requested operation is not valid: " + refusal);
        }
        return domain;
    }

    private byte[] domainInfo(Domain domain) {
        DomainDefinition d = vms.liveDefinition(domain) != null ? vms.liveDefinition(domain) : domain.definition();
        return new XdrWriter()
                .writeInt(domain.state())
                .writeHyper(d.memoryKiB())
                .writeHyper(d.currentMemoryKiB())
                .writeInt(d.vcpus())
                .writeHyper(vms.cpuTimeNanos(domain))
                .toByteArray();
    }

    private static byte[] nodeInfo() {
        XdrWriter out = new XdrWriter();
        byte[] model = "x86_64".getBytes();
        for (int i = 0; i < 32; i++) {
            out.writeInt(i < model.length ? model[i] : 0); // char model[32]: one XDR int per char
        }
        long memoryKiB = Runtime.getRuntime().maxMemory() / 1024;
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    memoryKiB = Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException ignored) {
            // keep the JVM's figure
        }
        int cpus = Runtime.getRuntime().availableProcessors();
        return out.writeHyper(memoryKiB).writeInt(cpus).writeInt(0).writeInt(1).writeInt(1).writeInt(cpus).writeInt(1).toByteArray();
    }

    private byte[] listAll(int needResults, int flags) {
        List<Domain> matching = new ArrayList<>();
        for (Domain domain : domains.all()) {
            if (matches(domain, flags)) {
                matching.add(domain);
            }
        }
        XdrWriter out = new XdrWriter();
        if (needResults != 0) {
            out.writeInt(matching.size());
            for (Domain domain : matching) {
                encodeDomain(out, domain);
            }
        } else {
            out.writeInt(0);
        }
        return out.writeInt(matching.size()).toByteArray();
    }

    /** virConnectListAllDomainsFlags: each group filters only when one of its bits is set. */
    private static boolean matches(Domain domain, int flags) {
        boolean active = domain.isActive();
        if ((flags & 3) != 0 && !((flags & 1) != 0 && active || (flags & 2) != 0 && !active)) {
            return false;
        }
        if ((flags & 12) != 0 && !((flags & 4) != 0 && domain.persistent() || (flags & 8) != 0 && !domain.persistent())) {
            return false;
        }
        int state = domain.state();
        if ((flags & 240) != 0) {
            boolean ok = (flags & 16) != 0 && state == Domain.STATE_RUNNING || (flags & 32) != 0 && state == Domain.STATE_PAUSED
                    || (flags & 64) != 0 && state == Domain.STATE_SHUTOFF;
            if (!ok) {
                return false;
            }
        }
        if ((flags & 3072) != 0 && !((flags & 1024) != 0 && domain.autostart() || (flags & 2048) != 0 && !domain.autostart())) {
            return false;
        }
        return true;
    }

    private int count(boolean active) {
        int n = 0;
        for (Domain domain : domains.all()) {
            if (domain.isActive() == active) {
                n++;
            }
        }
        return n;
    }

    private byte[] names(int max, boolean active) {
        List<String> names = new ArrayList<>();
        for (Domain domain : domains.all()) {
            if (domain.isActive() == active && names.size() < max) {
                names.add(domain.definition().name());
            }
        }
        XdrWriter out = new XdrWriter().writeInt(names.size());
        names.forEach(out::writeString);
        return out.toByteArray();
    }

    private byte[] ids(int max) {
        List<Integer> ids = new ArrayList<>();
        for (Domain domain : domains.all()) {
            if (domain.isActive() && ids.size() < max) {
                ids.add(domain.id());
            }
        }
        XdrWriter out = new XdrWriter().writeInt(ids.size());
        ids.forEach(out::writeInt);
        return out.toByteArray();
    }

    /** Decodes a remote_nonnull_domain argument and finds it (by UUID, as libvirt does). */
    Domain domain(XdrReader args) throws RemoteError, IOException {
        String name = args.readString(STRING_MAX);
        UUID uuid = uuid(args.readFixedOpaque(16));
        args.readInt(); // id
        Domain domain = domains.byUuid(uuid);
        if (domain == null) {
            throw RemoteError.noDomain("no domain with matching uuid '" + uuid + "' (" + name + ")");
        }
        return domain;
    }

    private static XdrWriter encodeDomain(XdrWriter out, Domain domain) {
        UUID uuid = domain.definition().uuid();
        ByteBuffer bytes = ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits());
        return out.writeString(domain.definition().name()).writeFixedOpaque(bytes.array()).writeInt(domain.id());
    }

    private static UUID uuid(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        return new UUID(b.getLong(), b.getLong());
    }

    private static byte[] empty() {
        return new byte[0];
    }
}
