package dev.jvirt.daemon.remote;

/** Per-connection state: whether CONNECT_OPEN happened, and whether the connection is read-only. */
public final class Session {

    private volatile boolean open;
    private volatile boolean readOnly;
    private final boolean socketReadOnly;

    public Session(boolean socketReadOnly) {
        this.socketReadOnly = socketReadOnly;
        this.readOnly = socketReadOnly;
    }

    void opened(boolean requestedReadOnly) {
        open = true;
        readOnly = socketReadOnly || requestedReadOnly;
    }

    boolean isOpen() {
        return open;
    }

    boolean isReadOnly() {
        return readOnly;
    }
}
