package dev.jvirt.daemon.state;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One kind of persistent definition (storage pools, networks) under the state directory:
 * {@code NAME.xml} per object, and marker files for the objects that autostart and for those
 * that were active, so a restarted daemon brings back what was running.
 */
public final class DefinitionDirectory {

    private final Path directory;
    private final Path autostart;
    private final Path active;

    public DefinitionDirectory(Path directory) throws IOException {
        this.directory = directory;
        this.autostart = directory.resolve("autostart");
        this.active = directory.resolve("active");
        Files.createDirectories(autostart);
        Files.createDirectories(active);
    }

    /** Every stored definition, by file name without ".xml", in name order. */
    public Map<String, String> load() throws IOException {
        Map<String, String> definitions = new LinkedHashMap<>();
        try (var files = Files.list(directory)) {
            // Temporary files end in ".tmp"; a name may begin with '.' (libvirt allows it), so those are not skipped.
            for (Path file : files.filter(f -> f.getFileName().toString().endsWith(".xml")).sorted().toList()) {
                String name = file.getFileName().toString();
                definitions.put(name.substring(0, name.length() - 4), Files.readString(file));
            }
        }
        return definitions;
    }

    public void save(String name, String xml) throws IOException {
        AtomicFiles.write(directory.resolve(name + ".xml"), xml);
    }

    public void delete(String name) throws IOException {
        AtomicFiles.delete(directory.resolve(name + ".xml"));
        AtomicFiles.delete(autostart.resolve(name));
        AtomicFiles.delete(active.resolve(name));
    }

    public boolean autostart(String name) {
        return Files.exists(autostart.resolve(name));
    }

    public void setAutostart(String name, boolean on) throws IOException {
        mark(autostart.resolve(name), on);
    }

    public boolean wasActive(String name) {
        return Files.exists(active.resolve(name));
    }

    public void setActive(String name, boolean on) throws IOException {
        mark(active.resolve(name), on);
    }

    private static void mark(Path marker, boolean on) throws IOException {
        if (on) {
            AtomicFiles.write(marker, "");
        } else {
            AtomicFiles.delete(marker);
        }
    }
}
