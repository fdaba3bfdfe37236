package dev.jvirt.daemon.storage;

import dev.jvirt.daemon.state.DefinitionDirectory;
import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.state.ObjectException.Kind;
import dev.jvirt.daemon.xml.XmlException;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The storage pools: persistent definitions under {@code STATE_DIR/storage}, and their lifecycle
 * (build, start, destroy, delete) as libvirt's directory pool backend has it. A pool that was
 * active, or is marked autostart, is active again after a daemon restart.
 */
public final class StoragePools {

    /** Host usage of the file system a pool lives on, in bytes. */
    public record Usage(long capacity, long allocation, long available) { }

    private final DefinitionDirectory files;
    private final Map<String, StoragePool> byName = new LinkedHashMap<>();

    private StoragePools(DefinitionDirectory files) {
        this.files = files;
    }

    public static StoragePools open(Path stateDir) throws IOException {
        StoragePools pools = new StoragePools(new DefinitionDirectory(stateDir.resolve("storage")));
        for (Map.Entry<String, String> entry : pools.files.load().entrySet()) {
            try {
                PoolDefinition definition = PoolDefinition.parse(entry.getValue());
                StoragePool pool = new StoragePool(definition, pools.files.autostart(definition.name()));
                pools.byName.put(definition.name(), pool);
                if ((pool.autostart() || pools.files.wasActive(definition.name())) && Files.isDirectory(definition.target())) {
                    pool.setActive(true);
                }
            } catch (XmlException e) {
                System.err.println("jvirtd: ignoring storage pool " + entry.getKey() + ": " + e.getMessage());
            }
        }
        return pools;
    }

    public synchronized List<StoragePool> all() {
        List<StoragePool> pools = new ArrayList<>(byName.values());
        pools.sort(Comparator.comparing(StoragePool::name));
        return pools;
    }

    public synchronized StoragePool byName(String name) throws ObjectException {
        StoragePool pool = byName.get(name);
        if (pool == null) {
            throw new ObjectException(Kind.NO_POOL, "Storage pool not found: no storage pool with matching name '" + name + "'");
        }
        return pool;
    }

    public synchronized StoragePool byUuid(UUID uuid) throws ObjectException {
        for (StoragePool pool : byName.values()) {
            if (pool.definition().uuid().equals(uuid)) {
                return pool;
            }
        }
        throw new ObjectException(Kind.NO_POOL, "Storage pool not found: no storage pool with matching uuid '" + uuid + "'");
    }

    /** Defines a new pool, or replaces the definition of the pool with the same name and UUID. */
    public synchronized StoragePool define(PoolDefinition definition) throws ObjectException, IOException {
        StoragePool existing = byName.get(definition.name());
        for (StoragePool other : byName.values()) {
            if (other != existing && other.definition().uuid().equals(definition.uuid())) {
                throw new ObjectException(Kind.EXISTS, "operation failed: pool '" + other.name() + "' already exists with uuid " + definition.uuid());
            }
            if (other != existing && other.definition().target().equals(definition.target())) {
                throw new ObjectException(Kind.EXISTS, "operation failed: Storage source conflict with pool: '" + other.name() + "'");
            }
        }
        if (existing != null && !existing.definition().uuid().equals(definition.uuid())) {
            throw new ObjectException(Kind.EXISTS, "operation failed: pool '" + definition.name() + "' is already defined with uuid "
                    + existing.definition().uuid());
        }
        files.save(definition.name(), definition.toXml());
        if (existing != null) {
            existing.redefine(definition);
            return existing;
        }
        StoragePool pool = new StoragePool(definition, false);
        byName.put(definition.name(), pool);
        return pool;
    }

    public synchronized void undefine(StoragePool pool) throws ObjectException, IOException {
        if (pool.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: storage pool '" + pool.name() + "' is still active");
        }
        files.delete(pool.name());
        byName.remove(pool.name());
    }

    /** pool-build: creates the target directory (and its parents). */
    public void build(StoragePool pool) throws ObjectException, IOException {
        if (pool.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: storage pool '" + pool.name() + "' is already active");
        }
        Files.createDirectories(pool.definition().target());
    }

    public synchronized void start(StoragePool pool) throws ObjectException, IOException {
        if (pool.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: storage pool '" + pool.name() + "' is already active");
        }
        Path target = pool.definition().target();
        if (!Files.isDirectory(target)) {
            throw new ObjectException(Kind.FAILED, "cannot open directory '" + target + "': No such file or directory (pool-build creates it)");
        }
        files.setActive(pool.name(), true);
        pool.setActive(true);
    }

    public synchronized void destroy(StoragePool pool) throws ObjectException, IOException {
        requireActive(pool);
        files.setActive(pool.name(), false);
        pool.setActive(false);
    }

    /** pool-delete: removes the (empty) target directory of an inactive pool. */
    public void delete(StoragePool pool) throws ObjectException, IOException {
        if (pool.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: storage pool '" + pool.name() + "' is still active");
        }
        Path target = pool.definition().target();
        try {
            Files.delete(target);
        } catch (DirectoryNotEmptyException e) {
            throw new ObjectException(Kind.FAILED, "cannot remove directory '" + target + "': Directory not empty");
        } catch (NoSuchFileException e) {
            throw new ObjectException(Kind.FAILED, "cannot remove directory '" + target + "': No such file or directory");
        }
    }

    public synchronized void setAutostart(StoragePool pool, boolean on) throws IOException {
        files.setAutostart(pool.name(), on);
        pool.setAutostart(on);
    }

    public static void requireActive(StoragePool pool) throws ObjectException {
        if (!pool.isActive()) {
            throw new ObjectException(Kind.INVALID_STATE, "Requested operation is not valid: storage pool '" + pool.name() + "' is not active");
        }
    }

    /** Capacity, allocation and free space of the pool's file system; zeroes for an inactive pool (as libvirt). */
    public Usage usage(StoragePool pool) {
        if (!pool.isActive()) {
            return new Usage(0, 0, 0);
        }
        try {
            FileStore store = Files.getFileStore(pool.definition().target());
            long total = store.getTotalSpace();
            long available = store.getUsableSpace();
            return new Usage(total, total - store.getUnallocatedSpace(), available);
        } catch (IOException e) {
            return new Usage(0, 0, 0);
        }
    }
}
