package dev.jvirt.img;

import dev.jvirt.block.ImageException;
import dev.jvirt.block.Images;
import dev.jvirt.block.qcow2.NoSuchSnapshotException;
import dev.jvirt.block.qcow2.Qcow2Snapshots;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code snapshot [-f fmt] [-q] [-U] [-l | -a snapshot | -c snapshot | -d snapshot] filename}, with
 * qemu-img 7.2's lookups (-a takes an ID or a name, -d a name), messages and exit status. -f is
 * accepted as later qemu-img versions accept it; 7.2 only probes.
 */
final class SnapshotCommand {

    private SnapshotCommand() {
    }

    static int run(List<String> args, PrintStream out) throws UsageException, IOException {
        Arguments a = Arguments.parse("snapshot", args, Set.of("-f", "-a", "-c", "-d"), Set.of("-l", "-q", "-U", "--force-share"));
        if (Stream.of("-l", "-a", "-c", "-d").filter(a::has).count() > 1) {
            throw new UsageException("Cannot mix '-l', '-a', '-c', '-d'");
        }
        if (a.positional.size() != 1) {
            throw new UsageException("Expecting one image file name");
        }
        Path path = Path.of(a.positional.getFirst());
        String format = a.has("-f") ? a.get("-f") : Images.probe(path);
        boolean qcow2 = format.equals("qcow2");
        if (a.has("-l")) {
            // qemu-img lists nothing, successfully, for formats without snapshots.
            if (qcow2) {
                out.print(SnapshotListing.human(SnapshotListing.describe(Qcow2Snapshots.list(path))));
            }
        } else if (a.has("-c")) {
            String name = a.get("-c");
            if (!qcow2) {
                throw new ImageException("Could not create snapshot '" + name + "': -95 (Operation not supported)");
            }
            try {
                Qcow2Snapshots.create(path, name, Instant.now());
            } catch (ImageException e) {
                throw new ImageException("Could not create snapshot '" + name + "': " + e.getMessage());
            }
        } else if (a.has("-a")) {
            String name = a.get("-a");
            if (!qcow2) {
                throw new ImageException("Could not apply snapshot '" + name + "': Block driver does not support snapshots");
            }
            try {
                Qcow2Snapshots.apply(path, name);
            } catch (NoSuchSnapshotException e) {
                throw new ImageException("Could not apply snapshot '" + name + "': Failed to load snapshot: No such file or directory");
            } catch (ImageException e) {
                throw new ImageException("Could not apply snapshot '" + name + "': " + e.getMessage());
            }
        } else if (a.has("-d")) {
            String name = a.get("-d");
            try {
                if (!qcow2) {
                    throw new NoSuchSnapshotException(name);
                }
                Qcow2Snapshots.delete(path, name);
            } catch (NoSuchSnapshotException e) {
                throw new ImageException("Could not delete snapshot '" + name + "': snapshot not found");
            } catch (ImageException e) {
                throw new ImageException("Could not delete snapshot '" + name + "': " + e.getMessage());
            }
        }
        return 0;
    }
}
