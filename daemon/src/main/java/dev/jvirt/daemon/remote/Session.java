package dev.jvirt.daemon.remote;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Per-connection state: whether CONNECT_OPEN happened, whether the connection is read-only, and
 * how to push unsolicited messages (events) to the client.
 */
public final class Session {

    private volatile boolean open;
    private volatile boolean readOnly;
    private final boolean socketReadOnly;
    private final Consumer<byte[]> push;
    private final List<Runnable> closeHooks = new CopyOnWriteArrayList<>();

    /** {@code push} must not block: it queues a packet for the connection's writer. */
    public Session(boolean socketReadOnly, Consumer<byte[]> push) {
        this.socketReadOnly = socketReadOnly;
        this.readOnly = socketReadOnly;
        this.push = push;
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

    void push(byte[] packet) {
        push.accept(packet);
    }

    /** Runs {@code hook} when the connection ends (to drop event subscriptions). */
    void onClose(Runnable hook) {
        closeHooks.add(hook);
    }

    /** Called by the connection when it ends. */
    public void closed() {
        closeHooks.forEach(Runnable::run);
    }
}
