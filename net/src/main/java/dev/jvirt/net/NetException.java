package dev.jvirt.net;

import java.io.IOException;

/** A host network call failed; the message names the call, the interface and the system's reason. */
public class NetException extends IOException {

    private final int errno;

    public NetException(String message) {
        super(message);
        this.errno = 0;
    }

    /** {@code what} is the failed step, e.g. "TUNSETIFF tap0"; the system's text for {@code errno} follows it. */
    public NetException(String what, int errno) {
        super(what + ": " + NetLibc.strerror(errno));
        this.errno = errno;
    }

    /** The errno the call failed with, or 0 when the failure was not a system call's. */
    public int errno() {
        return errno;
    }
}
