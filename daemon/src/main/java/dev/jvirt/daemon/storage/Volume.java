package dev.jvirt.daemon.storage;

import java.nio.file.Path;

/**
 * One volume of a directory pool, as found on disk: a file whose format is probed, with its
 * virtual size (capacity), host allocation, and backing file when it is a qcow2 overlay.
 * The key is the path, as in libvirt's directory pools.
 */
public record Volume(String pool, String name, Path path, String format, long capacity, long allocation,
                     String backingPath, String backingFormat) {

    public String key() {
        return path.toString();
    }
}
