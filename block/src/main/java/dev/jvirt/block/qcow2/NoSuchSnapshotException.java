package dev.jvirt.block.qcow2;

import dev.jvirt.block.ImageException;

/** No internal snapshot matches the ID or name asked for; qemu-img words this differently per action. */
public final class NoSuchSnapshotException extends ImageException {

    public NoSuchSnapshotException(String message) {
        super(message);
    }
}
