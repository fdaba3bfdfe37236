package dev.jvirt.daemon.domain;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The persistent domain definitions under {@code STATE_DIR/domains}: one XML file per domain,
 * written atomically (temporary file, fsync, rename, fsync of the directory) so a crash leaves
 * the old or the new definition, never half of one. The state directory is locked, so two
 * daemons cannot share it.
 */
public final class DomainStore implements AutoCloseable {

    private final Path directory;
    private final Path autostartDirectory;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Map<String, Domain> byName = new LinkedHashMap<>();
    private final List<DomainListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final DomainListener fanOut = (domain, event, detail) -> listeners.forEach(l -> l.lifecycle(domain, event, detail));

    private DomainStore(Path stateDir, FileChannel lockChannel, FileLock lock) {
        this.directory = stateDir.resolve("domains");
        this.autostartDirectory = directory.resolve("autostart");
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    public static DomainStore open(Path stateDir) throws IOException {
        Files.createDirectories(stateDir.resolve("domains").resolve("autostart"));
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
        try (var files = Files.list(directory)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".xml")).sorted().toList()) {
                try {
                    DomainDefinition definition = DomainDefinition.parse(Files.readString(file));
                    boolean autostart = Files.exists(autostartDirectory.resolve(definition.name()));
                    byName.put(definition.name(), new Domain(definition, autostart, fanOut));
                } catch (DomainXmlException e) {
                    System.err.println("jvirtd: ignoring " + file + ": " + e.getMessage());
                }
            }
        }
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
        writeAtomically(directory.resolve(definition.name() + ".xml"), definition.toXml());
        if (existing != null) {
            existing.redefine(definition);
            fanOut.lifecycle(existing, DomainListener.DEFINED, 1); // updated
            return existing;
        }
        Domain domain = new Domain(definition, false, fanOut);
        byName.put(definition.name(), domain);
        fanOut.lifecycle(domain, DomainListener.DEFINED, 0); // added
        return domain;
    }

    public synchronized void undefine(Domain domain) throws IOException {
        Files.deleteIfExists(directory.resolve(domain.definition().name() + ".xml"));
        Files.deleteIfExists(autostartDirectory.resolve(domain.definition().name()));
        byName.remove(domain.definition().name());
        fanOut.lifecycle(domain, DomainListener.UNDEFINED, 0); // removed
    }

    /** Adds a listener told of every lifecycle change of every domain. */
    public void addListener(DomainListener listener) {
        listeners.add(listener);
    }

    public synchronized void setAutostart(Domain domain, boolean autostart) throws IOException {
        Path marker = autostartDirectory.resolve(domain.definition().name());
        if (autostart) {
            writeAtomically(marker, domain.definition().uuid().toString());
        } else {
            Files.deleteIfExists(marker);
        }
        domain.setAutostart(autostart);
    }

    public synchronized Collection<Domain> snapshot() {
        return List.copyOf(byName.values());
    }

    private void writeAtomically(Path target, String content) throws IOException {
        Path temporary = target.resolveSibling("." + target.getFileName() + ".tmp");
        try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            channel.write(java.nio.ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8)));
            channel.force(true);
        }
        try {
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
        }
        try (FileChannel dir = FileChannel.open(target.getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException ignored) {
            // some file systems cannot fsync a directory; the rename is still atomic
        }
    }

    @Override
    public void close() throws IOException {
        lock.release();
        lockChannel.close();
    }
}
