package dev.jvirt.daemon.domain;

import dev.jvirt.daemon.state.AtomicFiles;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The domain definitions under {@code STATE_DIR/domains}: one XML file per persistent domain, and
 * under {@code domains/transient} one per transient domain that may still be running,
 * written atomically (temporary file, fsync, rename, fsync of the directory) so a crash leaves
 * the old or the new definition, never half of one. The state directory is locked, so two
 * daemons cannot share it.
 */
public final class DomainStore implements AutoCloseable {

    private final Path directory;
    private final Path autostartDirectory;
    private final Path transientDirectory;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Map<String, Domain> byName = new LinkedHashMap<>();
    private final List<DomainListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final DomainListener fanOut = (domain, event, detail) -> listeners.forEach(l -> l.lifecycle(domain, event, detail));

    private DomainStore(Path stateDir, FileChannel lockChannel, FileLock lock) {
        this.directory = stateDir.resolve("domains");
        this.autostartDirectory = directory.resolve("autostart");
        this.transientDirectory = directory.resolve("transient");
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    public static DomainStore open(Path stateDir) throws IOException {
        Files.createDirectories(stateDir.resolve("domains").resolve("autostart"));
        Files.createDirectories(stateDir.resolve("domains").resolve("transient"));
        FileChannel channel = FileChannel.open(stateDir.resolve("jvirtd.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock = channel.tryLock();
        if (lock == null) {
            channel.close();
            throw new IOException("another jvirtd is already using the state directory " + stateDir);
        }
        DomainStore store = new DomainStore(stateDir, channel, lock);
        store.load();
        return store;
    }

    private void load() throws IOException {
        load(directory, true);
        load(transientDirectory, false);
    }

    /** Persistent definitions, then transient ones (kept only while their VM may still be running). */
    private void load(Path from, boolean persistent) throws IOException {
        try (var files = Files.list(from)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".xml")).sorted().toList()) {
                try {
                    DomainDefinition definition = DomainDefinition.parse(Files.readString(file));
                    if (byName.containsKey(definition.name())) {
                        continue;
                    }
                    boolean autostart = persistent && Files.exists(autostartDirectory.resolve(definition.name()));
                    Domain domain = new Domain(definition, autostart, fanOut);
                    domain.setPersistent(persistent);
                    byName.put(definition.name(), domain);
                } catch (DomainXmlException e) {
                    System.err.println("jvirtd: ignoring " + file + ": " + e.getMessage());
                }
            }
        }
    }

    /**
     * virsh create: a domain that exists only while it runs. Its definition is kept under
     * domains/transient so a restarted daemon can still find the running VM.
     */
    public synchronized Domain createTransient(DomainDefinition definition) throws IOException, DomainXmlException {
        Domain existing = byName.get(definition.name());
        if (existing != null) {
            throw new DomainXmlException("domain '" + definition.name() + "' already exists"
                    + (existing.isActive() ? " and is running" : "; start it, or undefine it first"));
        }
        if (byUuid(definition.uuid()) != null) {
            throw new DomainXmlException("domain '" + byUuid(definition.uuid()).definition().name() + "' already exists with uuid " + definition.uuid());
        }
        AtomicFiles.write(transientDirectory.resolve(definition.name() + ".xml"), definition.toXml());
        Domain domain = new Domain(definition, false, fanOut);
        domain.setPersistent(false);
        byName.put(definition.name(), domain);
        return domain;
    }

    /** Drops a transient domain that has stopped. */
    public synchronized void forget(Domain domain) throws IOException {
        if (domain.persistent() || domain.isActive()) {
            return;
        }
        AtomicFiles.delete(transientDirectory.resolve(domain.definition().name() + ".xml"));
        byName.remove(domain.definition().name(), domain);
    }

    public synchronized List<Domain> all() {
        List<Domain> domains = new ArrayList<>(byName.values());
        domains.sort(Comparator.comparing(d -> d.definition().name()));
        return domains;
    }

    public synchronized Domain byName(String name) {
        return byName.get(name);
    }

    public synchronized Domain byUuid(UUID uuid) {
        for (Domain domain : byName.values()) {
            if (domain.definition().uuid().equals(uuid)) {
                return domain;
            }
        }
        return null;
    }

    public synchronized Domain byId(int id) {
        for (Domain domain : byName.values()) {
            if (domain.id() == id && id >= 0) {
                return domain;
            }
        }
        return null;
    }

    /** Defines a new domain or replaces the definition of one with the same name and UUID. */
    public synchronized Domain define(DomainDefinition definition) throws IOException, DomainXmlException {
        Domain existing = byName.get(definition.name());
        Domain sameUuid = byUuid(definition.uuid());
        if (existing == null && sameUuid != null) {
            throw new DomainXmlException("domain '" + sameUuid.definition().name() + "' already exists with uuid " + definition.uuid());
        }
        if (existing != null && !existing.definition().uuid().equals(definition.uuid())) {
            throw new DomainXmlException("domain '" + definition.name() + "' is already defined with uuid "
                    + existing.definition().uuid());
        }
        AtomicFiles.write(directory.resolve(definition.name() + ".xml"), definition.toXml());
        if (existing != null) {
            boolean wasTransient = !existing.persistent();
            existing.redefine(definition);
            existing.setPersistent(true);
            AtomicFiles.delete(transientDirectory.resolve(definition.name() + ".xml"));
            fanOut.lifecycle(existing, DomainListener.DEFINED, wasTransient ? 0 : 1); // added or updated
            return existing;
        }
        Domain domain = new Domain(definition, false, fanOut);
        byName.put(definition.name(), domain);
        fanOut.lifecycle(domain, DomainListener.DEFINED, 0); // added
        return domain;
    }

    /**
     * Removes the definition; a running domain stays running as a transient one, as in libvirt.
     * The domain is marked transient first, so a VM that stops while this runs is forgotten
     * either here or by the supervisor's exit handling, never left behind as a shut-off ghost.
     */
    public synchronized void undefine(Domain domain) throws IOException {
        String name = domain.definition().name();
        domain.setPersistent(false);
        domain.setAutostart(false);
        if (domain.isActive()) {
            AtomicFiles.write(transientDirectory.resolve(name + ".xml"), domain.definition().toXml());
        }
        AtomicFiles.delete(directory.resolve(name + ".xml"));
        AtomicFiles.delete(autostartDirectory.resolve(name));
        if (!domain.isActive()) {
            AtomicFiles.delete(transientDirectory.resolve(name + ".xml"));
            byName.remove(name, domain);
        }
        fanOut.lifecycle(domain, DomainListener.UNDEFINED, 0); // removed
    }

    /** Adds a listener told of every lifecycle change of every domain. */
    public void addListener(DomainListener listener) {
        listeners.add(listener);
    }

    public synchronized void setAutostart(Domain domain, boolean autostart) throws IOException {
        Path marker = autostartDirectory.resolve(domain.definition().name());
        if (autostart) {
            AtomicFiles.write(marker, domain.definition().uuid().toString());
        } else {
            Files.deleteIfExists(marker);
        }
        domain.setAutostart(autostart);
    }

    public synchronized Collection<Domain> snapshot() {
        return List.copyOf(byName.values());
    }

    @Override
    public void close() throws IOException {
        lock.release();
        lockChannel.close();
    }
}
