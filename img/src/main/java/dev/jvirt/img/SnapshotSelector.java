package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.ImageException;
import dev.jvirt.block.qcow2.Qcow2Image;
import dev.jvirt.block.qcow2.Qcow2Snapshot;
import dev.jvirt.block.qcow2.Qcow2Snapshots;

import java.io.IOException;
import java.util.List;

/**
 * qemu-img's {@code -l snapshot_param} for reading an internal snapshot instead of the active
 * disk: {@code snapshot.id=ID,snapshot.name=NAME} (either or both), or a bare ID or name (an ID
 * is looked for first, as QEMU's bdrv_snapshot_load_tmp_by_id_or_name does).
 */
final class SnapshotSelector {

    private SnapshotSelector() {
    }

    /** A read-only view of the snapshot {@code param} names; closing {@code image} closes it too. */
    static BlockDriver select(BlockDriver image, String param) throws IOException {
        if (!(image instanceof Qcow2Image qcow2)) {
            throw new ImageException("Failed to load snapshot: Block format '" + image.format()
                    + "' used by device '' does not support temporarily loading internal snapshots");
        }
        List<Qcow2Snapshot> snapshots = qcow2.snapshots();
        Qcow2Snapshot snapshot;
        if (param.startsWith("snapshot.id=") || param.startsWith("snapshot.name=")) {
            String id = null;
            String name = null;
            for (String option : param.split(",")) {
                if (option.startsWith("snapshot.id=")) {
                    id = option.substring("snapshot.id=".length());
                } else if (option.startsWith("snapshot.name=")) {
                    name = option.substring("snapshot.name=".length());
                } else {
                    throw new ImageException("Invalid parameter '" + option.split("=", 2)[0] + "'");
                }
            }
            snapshot = Qcow2Snapshots.findByIdAndName(snapshots, id, name);
        } else {
            snapshot = Qcow2Snapshots.findByIdOrName(snapshots, param);
        }
        if (snapshot == null) {
            throw new ImageException("Failed to load snapshot: Can't find snapshot");
        }
        return qcow2.snapshotView(snapshot);
    }
}
