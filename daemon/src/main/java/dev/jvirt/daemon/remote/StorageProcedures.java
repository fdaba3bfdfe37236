package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.rpc.XdrReader;
import dev.jvirt.daemon.rpc.XdrWriter;
import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.storage.PoolDefinition;
import dev.jvirt.daemon.storage.StoragePool;
import dev.jvirt.daemon.storage.StoragePools;
import dev.jvirt.daemon.storage.Volume;
import dev.jvirt.daemon.storage.VolumeSpec;
import dev.jvirt.daemon.storage.Volumes;
import dev.jvirt.daemon.xml.XmlException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The storage procedures of REMOTE_PROGRAM (remote_protocol.x, "Storage pool calls" and
 * "Storage vol calls"): what virsh's pool-* and vol-* commands and libvirt-python call.
 */
final class StorageProcedures {

    private static final int STRING_MAX = 1_048_576;
    private static final int VOL_TYPE_FILE = 0;
    private static final int WIPE_ALG_ZERO = 0;

    @FunctionalInterface
    private interface Body {
        byte[] call(XdrReader args) throws ObjectException, XmlException, IOException, RemoteError;
    }

    private final StoragePools pools;
    private final Volumes volumes;

    StorageProcedures(StoragePools pools, Volumes volumes) {
        this.pools = pools;
        this.volumes = volumes;
    }

    void register(RemoteProgram program) {
        reader(program, 71, args -> count(true));
        reader(program, 72, args -> names(args.readInt(), true));
        reader(program, 73, args -> count(false));
        reader(program, 74, args -> names(args.readInt(), false));
        writer(program, 77, args -> {
            String xml = args.readString(STRING_MAX);
            args.readInt();
            return pool(pools.define(PoolDefinition.parse(xml)));
        });
        writer(program, 78, args -> {
            StoragePool pool = pool(args);
            args.readInt();
            pools.start(pool);
            return empty();
        });
        writer(program, 79, args -> {
            StoragePool pool = pool(args);
            args.readInt();
            pools.build(pool);
            return empty();
        });
        writer(program, 80, args -> {
            pools.destroy(pool(args));
            return empty();
        });
        writer(program, 81, args -> {
            StoragePool pool = pool(args);
            args.readInt();
            pools.delete(pool);
            return empty();
        });
        writer(program, 82, args -> {
            pools.undefine(pool(args));
            return empty();
        });
        writer(program, 83, args -> {
            StoragePool pool = pool(args);
            args.readInt();
            StoragePools.requireActive(pool); // volumes are read from the directory on every call: nothing to rescan
            return empty();
        });
        reader(program, 84, args -> pool(pools.byName(args.readString(STRING_MAX))));
        reader(program, 85, args -> pool(pools.byUuid(uuid(args))));
        reader(program, 86, args -> pool(pools.byName(volume(args).pool())));
        reader(program, 87, args -> {
            StoragePool pool = pool(args);
            StoragePools.Usage usage = pools.usage(pool);
            return new XdrWriter().writeInt(pool.isActive() ? StoragePool.STATE_RUNNING : StoragePool.STATE_INACTIVE)
                    .writeHyper(usage.capacity()).writeHyper(usage.allocation()).writeHyper(usage.available()).toByteArray();
        });
        reader(program, 88, args -> {
            StoragePool pool = pool(args);
            args.readInt();
            StoragePools.Usage usage = pools.usage(pool);
            return new XdrWriter().writeString(pool.definition().toXml(usage.capacity(), usage.allocation(), usage.available())).toByteArray();
        });
        reader(program, 89, args -> new XdrWriter().writeInt(pool(args).autostart() ? 1 : 0).toByteArray());
        writer(program, 90, args -> {
            StoragePool pool = pool(args);
            pools.setAutostart(pool, args.readInt() != 0);
            return empty();
        });
        reader(program, 91, args -> new XdrWriter().writeInt(volumes.list(pool(args)).size()).toByteArray());
        reader(program, 92, args -> {
            StoragePool pool = pool(args);
            int max = args.readInt();
            List<Volume> list = volumes.list(pool);
            XdrWriter out = new XdrWriter().writeInt(Math.min(max, list.size()));
            list.stream().limit(Math.max(0, max)).forEach(v -> out.writeString(v.name()));
            return out.toByteArray();
        });
        writer(program, 93, args -> {
            StoragePool pool = pool(args);
            String xml = args.readString(STRING_MAX);
            args.readInt();
            return volume(volumes.create(pool, VolumeSpec.parse(xml)));
        });
        writer(program, 94, args -> {
            Volume volume = volume(args);
            args.readInt();
            volumes.delete(volume);
            return empty();
        });
        reader(program, 95, args -> {
            StoragePool pool = pool(args);
            return volume(volumes.byName(pool, args.readString(STRING_MAX)));
        });
        reader(program, 96, args -> volume(volumes.byPath(args.readString(STRING_MAX))));
        reader(program, 97, args -> volume(volumes.byPath(args.readString(STRING_MAX))));
        reader(program, 98, args -> volumeInfo(volume(args)));
        reader(program, 99, args -> {
            Volume volume = volume(args);
            args.readInt();
            return new XdrWriter().writeString(volumes.xml(volume)).toByteArray();
        });
        reader(program, 100, args -> new XdrWriter().writeString(volume(args).key()).toByteArray());
        writer(program, 125, args -> {
            StoragePool pool = pool(args);
            String xml = args.readString(STRING_MAX);
            Volume source = volume(args);
            args.readInt();
            return volume(volumes.cloneFrom(pool, VolumeSpec.parse(xml), source));
        });
        reader(program, 154, args -> new XdrWriter().writeInt(pool(args).isActive() ? 1 : 0).toByteArray());
        reader(program, 155, args -> {
            pool(args);
            return new XdrWriter().writeInt(1).toByteArray(); // every jvirt pool is persistent
        });
        writer(program, 165, args -> {
            Volume volume = volume(args);
            args.readInt();
            volumes.wipe(volume);
            return empty();
        });
        writer(program, 259, args -> {
            Volume volume = volume(args);
            int algorithm = args.readInt();
            args.readInt();
            if (algorithm != WIPE_ALG_ZERO) {
                throw new RemoteError(RemoteError.NO_SUPPORT, "this function is not supported by the connection driver: wipe algorithm "
                        + algorithm + " (only zero is)");
            }
            volumes.wipe(volume);
            return empty();
        });
        writer(program, 260, args -> {
            Volume volume = volume(args);
            long capacity = args.readHyper();
            volumes.resize(volume, capacity, args.readInt());
            return empty();
        });
        reader(program, 281, args -> listAllPools(args.readInt(), args.readInt()));
        reader(program, 282, args -> {
            StoragePool pool = pool(args);
            int needResults = args.readInt();
            args.readInt();
            List<Volume> list = volumes.list(pool);
            XdrWriter out = new XdrWriter();
            if (needResults != 0) {
                out.writeInt(list.size());
                list.forEach(v -> encodeVolume(out, v));
            } else {
                out.writeInt(0);
            }
            return out.writeInt(list.size()).toByteArray();
        });
        // STORAGE_VOL_GET_INFO_FLAGS (libvirt 3.0): flag PHYSICAL asks for the host file size as capacity.
        reader(program, 387, args -> {
            Volume volume = volume(args);
            int flags = args.readInt();
            return volumeInfo((flags & 1) != 0 ? new Volume(volume.pool(), volume.name(), volume.path(), volume.format(),
                    java.nio.file.Files.size(volume.path()), volume.allocation(), volume.backingPath(), volume.backingFormat()) : volume);
        });
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
        return new XdrWriter().writeInt((int) pools.all().stream().filter(p -> p.isActive() == active).count()).toByteArray();
    }

    private byte[] names(int max, boolean active) {
        List<String> names = pools.all().stream().filter(p -> p.isActive() == active).map(StoragePool::name)
                .limit(Math.max(0, max)).toList();
        XdrWriter out = new XdrWriter().writeInt(names.size());
        names.forEach(out::writeString);
        return out.toByteArray();
    }

    /** virConnectListAllStoragePoolsFlags: each group of bits filters only when one of its bits is set. */
    private byte[] listAllPools(int needResults, int flags) {
        List<StoragePool> matching = new ArrayList<>();
        for (StoragePool pool : pools.all()) {
            boolean active = pool.isActive();
            if ((flags & 3) != 0 && !((flags & 1) != 0 && !active || (flags & 2) != 0 && active)) {
                continue;
            }
            if ((flags & 12) != 0 && (flags & 4) == 0) {
                continue; // only transient pools asked for; ours are all persistent
            }
            if ((flags & 48) != 0 && !((flags & 16) != 0 && pool.autostart() || (flags & 32) != 0 && !pool.autostart())) {
                continue;
            }
            if ((flags & ~63) != 0 && (flags & 64) == 0) {
                continue; // pool types asked for, and dir (64) is not among them
            }
            matching.add(pool);
        }
        XdrWriter out = new XdrWriter();
        if (needResults != 0) {
            out.writeInt(matching.size());
            matching.forEach(p -> encodePool(out, p));
        } else {
            out.writeInt(0);
        }
        return out.writeInt(matching.size()).toByteArray();
    }

    private byte[] volumeInfo(Volume volume) {
        return new XdrWriter().writeInt(VOL_TYPE_FILE).writeHyper(volume.capacity()).writeHyper(volume.allocation()).toByteArray();
    }

    /** remote_nonnull_storage_pool: found by UUID (names can be redefined), as libvirt does. */
    private StoragePool pool(XdrReader args) throws ObjectException, IOException {
        args.readString(STRING_MAX);
        return pools.byUuid(uuid(args));
    }

    /** remote_nonnull_storage_vol: pool name, volume name, key. */
    private Volume volume(XdrReader args) throws ObjectException, IOException {
        String pool = args.readString(STRING_MAX);
        String name = args.readString(STRING_MAX);
        args.readString(STRING_MAX);
        return volumes.byName(pools.byName(pool), name);
    }

    private static UUID uuid(XdrReader args) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(args.readFixedOpaque(16));
        return new UUID(bytes.getLong(), bytes.getLong());
    }

    private static byte[] pool(StoragePool pool) {
        return encodePool(new XdrWriter(), pool).toByteArray();
    }

    private static XdrWriter encodePool(XdrWriter out, StoragePool pool) {
        UUID uuid = pool.definition().uuid();
        byte[] bytes = ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits()).array();
        return out.writeString(pool.name()).writeFixedOpaque(bytes);
    }

    private static byte[] volume(Volume volume) {
        return encodeVolume(new XdrWriter(), volume).toByteArray();
    }

    private static XdrWriter encodeVolume(XdrWriter out, Volume volume) {
        return out.writeString(volume.pool()).writeString(volume.name()).writeString(volume.key());
    }

    private static byte[] empty() {
        return new byte[0];
    }
}
