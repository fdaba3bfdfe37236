package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.domain.Domain;
import dev.jvirt.daemon.domain.DomainDefinition;
import dev.jvirt.daemon.domain.DomainDevices;
import dev.jvirt.daemon.domain.DomainStore;
import dev.jvirt.daemon.domain.DomainXmlException;
import dev.jvirt.daemon.rpc.XdrWriter;
import dev.jvirt.daemon.storage.Volume;
import dev.jvirt.daemon.storage.Volumes;
import dev.jvirt.daemon.vm.VmOperationException;
import dev.jvirt.daemon.vm.VmSupervisor;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Device procedures on domains: attach-device and detach-device (live through QMP hot-plug, config
 * in the definition, or both), dommemstat and its collection period, and domblkinfo.
 */
final class DomainDeviceProcedures {

    private static final int STRING_MAX = 1_048_576;
    private static final int AFFECT_LIVE = 1;
    private static final int AFFECT_CONFIG = 2;
    /** libvirt's qemu driver waits this long for DEVICE_DELETED before it lets detach-device return. */
    private static final Duration DETACH_WAIT = Duration.ofSeconds(5);

    private final RemoteProgram program;
    private final DomainStore domains;
    private final VmSupervisor vms;

    DomainDeviceProcedures(RemoteProgram program, DomainStore domains, VmSupervisor vms) {
        this.program = program;
        this.domains = domains;
        this.vms = vms;
    }

    void register() {
        program.register(8, true, (args, session) -> {
            Domain domain = program.domain(args);
            attach(domain, args.readString(STRING_MAX), AFFECT_LIVE);
            return new byte[0];
        });
        program.register(160, true, (args, session) -> {
            Domain domain = program.domain(args);
            String xml = args.readString(STRING_MAX);
            attach(domain, xml, args.readInt());
            return new byte[0];
        });
        program.register(13, true, (args, session) -> {
            Domain domain = program.domain(args);
            detach(domain, args.readString(STRING_MAX), AFFECT_LIVE);
            return new byte[0];
        });
        program.register(161, true, (args, session) -> {
            Domain domain = program.domain(args);
            String xml = args.readString(STRING_MAX);
            detach(domain, xml, args.readInt());
            return new byte[0];
        });
        program.register(159, false, (args, session) -> {
            Domain domain = program.domain(args);
            int max = args.readInt();
            args.readInt();
            requireActive(domain);
            List<long[]> stats = vms.memoryStats(domain);
            stats = stats.subList(0, Math.min(stats.size(), Math.max(0, max)));
            XdrWriter out = new XdrWriter().writeInt(stats.size());
            for (long[] stat : stats) {
                out.writeInt((int) stat[0]).writeHyper(stat[1]);
            }
            return out.toByteArray();
        });
        program.register(308, true, (args, session) -> {
            Domain domain = program.domain(args);
            int period = args.readInt();
            int flags = args.readInt();
            if (period < 0) {
                throw new RemoteError(RemoteError.INVALID_ARG, "invalid argument: period must be a positive number of seconds");
            }
            boolean live = (flags & AFFECT_LIVE) != 0 || (flags & (AFFECT_LIVE | AFFECT_CONFIG)) == 0 && domain.isActive();
            if (live) {
                requireActive(domain);
                try {
                    vms.setMemoryStatsPeriod(domain, period);
                } catch (VmOperationException e) {
                    throw failure(e);
                }
            }
            if ((flags & AFFECT_CONFIG) != 0) {
                throw new RemoteError(RemoteError.NO_SUPPORT, "this function is not supported by the connection driver:"
                        + " setting the statistics period in the definition (edit <memballoon><stats period='N'/>)");
            }
            return new byte[0];
        });
        program.register(194, false, (args, session) -> {
            Domain domain = program.domain(args);
            String path = args.readString(STRING_MAX);
            args.readInt();
            Volume image = blockImage(domain, path);
            return new XdrWriter().writeHyper(image.allocation()).writeHyper(image.capacity())
                    .writeHyper(Math.max(image.allocation(), java.nio.file.Files.size(image.path()))).toByteArray();
        });
    }

    private void attach(Domain domain, String xml, int flags) throws RemoteError, IOException {
        boolean[] where = targets(domain, flags);
        if (where[1]) {
            RemoteProgram.requirePersistent(domain, "cannot modify device on transient domain");
            try {
                DomainDefinition changed = domain.definition().withDevice(xml);
                if (where[0]) { // one device for both, its generated MAC included, as libvirt attaches one definition
                    vms.attachDevice(domain, changed.lastDeviceXml(DomainDefinition.deviceKind(xml)));
                }
                domains.define(changed);
            } catch (DomainXmlException e) {
                throw new RemoteError(RemoteError.XML_ERROR, "XML error: " + e.getMessage());
            } catch (VmOperationException e) {
                throw failure(e);
            }
        } else {
            try {
                vms.attachDevice(domain, xml);
            } catch (VmOperationException e) {
                throw failure(e);
            }
        }
    }

    private void detach(Domain domain, String xml, int flags) throws RemoteError, IOException {
        boolean[] where = targets(domain, flags);
        DomainDefinition changed = null;
        if (where[1]) {
            RemoteProgram.requirePersistent(domain, "cannot modify device on transient domain");
            try {
                changed = domain.definition().withoutDevice(xml).definition();
            } catch (DomainXmlException e) {
                throw new RemoteError(RemoteError.OPERATION_FAILED, "operation failed: " + e.getMessage());
            }
        }
        if (where[0]) {
            try {
                vms.detachDevice(domain, xml, DETACH_WAIT); // a slow guest keeps it a while longer, as with libvirt
            } catch (VmOperationException e) {
                throw failure(e);
            }
        }
        if (changed != null) {
            try {
                domains.define(changed);
            } catch (DomainXmlException e) {
                throw new RemoteError(RemoteError.XML_ERROR, "XML error: " + e.getMessage());
            }
        }
    }

    /** {live, config} as libvirt's AFFECT flags choose them: neither flag means live when running, config when not. */
    private static boolean[] targets(Domain domain, int flags) throws RemoteError {
        boolean current = (flags & (AFFECT_LIVE | AFFECT_CONFIG)) == 0;
        boolean live = (flags & AFFECT_LIVE) != 0 || current && domain.isActive();
        boolean config = (flags & AFFECT_CONFIG) != 0 || current && !domain.isActive();
        if (live) {
            requireActive(domain);
        }
        return new boolean[] {live, config};
    }

    private static void requireActive(Domain domain) throws RemoteError {
        if (!domain.isActive()) {
            throw new RemoteError(RemoteError.OPERATION_INVALID, "Requested operation is not valid: domain is not running");
        }
    }

    private static RemoteError failure(VmOperationException e) {
        return new RemoteError(e.invalid() ? RemoteError.OPERATION_INVALID : RemoteError.OPERATION_FAILED, e.getMessage());
    }

    /** The disk named by target (vda) or source path, probed as a volume is. */
    private Volume blockImage(Domain domain, String path) throws RemoteError, IOException {
        DomainDefinition definition = vms.liveDefinition(domain) != null ? vms.liveDefinition(domain) : domain.definition();
        try {
            for (DomainDevices.Disk disk : definition.disks()) {
                if (disk.target().equals(path) || path.equals(disk.file())) {
                    if (disk.file() == null) {
                        throw new RemoteError(RemoteError.NO_SUPPORT, "this function is not supported by the connection driver:"
                                + " domblkinfo of a volume disk (use vol-info)");
                    }
                    return Volumes.inspectImage(Path.of(disk.file()));
                }
            }
        } catch (DomainXmlException e) {
            throw new RemoteError(RemoteError.OPERATION_FAILED, "operation failed: " + e.getMessage());
        }
        throw new RemoteError(RemoteError.INVALID_ARG, "invalid argument: invalid path " + path + " not assigned to domain");
    }
}
