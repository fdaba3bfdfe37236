package dev.jvirt.daemon.vm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Names for the taps of domain interfaces, vnet0, vnet1, ... as libvirt picks them: the lowest
 * number neither present on the host (in this network namespace, read from /proc/net/dev) nor
 * handed out to a VMM that has not created its tap yet.
 */
final class TapNames {

    private final Path procNetDev;
    private final Set<String> reserved = new HashSet<>();

    TapNames() {
        this(Path.of("/proc/net/dev"));
    }

    TapNames(Path procNetDev) {
        this.procNetDev = procNetDev;
    }

    synchronized String allocate() {
        Set<String> present = present();
        for (int i = 0; ; i++) {
            String name = "vnet" + i;
            if (!present.contains(name) && !reserved.contains(name)) {
                reserved.add(name);
                return name;
            }
        }
    }

    /** The VMM owns (or gave up) the name now: the host's list says whether it is in use. */
    synchronized void release(String name) {
        reserved.remove(name);
    }

    private Set<String> present() {
        Set<String> names = new HashSet<>();
        try {
            for (String line : Files.readAllLines(procNetDev)) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    names.add(line.substring(0, colon).trim());
                }
            }
        } catch (IOException e) {
            // no list: the reservations alone keep names apart, and the VMM reports a clash
        }
        return names;
    }
}
