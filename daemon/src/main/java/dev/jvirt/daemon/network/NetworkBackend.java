package dev.jvirt.daemon.network;

import java.io.IOException;

/** What starting and stopping a network does on the host (separate so tests and hosts can differ). */
public interface NetworkBackend {

    /** Brings the network up: on failure nothing is left behind and the message says what failed. */
    void start(NetworkDefinition network) throws IOException;

    void stop(NetworkDefinition network) throws IOException;

    /** Whether the network's bridge is present, to find active networks again after a restart. */
    boolean isUp(NetworkDefinition network);
}
