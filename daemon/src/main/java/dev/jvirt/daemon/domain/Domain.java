package dev.jvirt.daemon.domain;

/**
 * A defined domain and its run state (virDomainState with its reason), kept current by the
 * VM supervisor as the domain's jvirt-vmm process starts, pauses and exits.
 */
public final class Domain {

    /** virDomainState values. */
    public static final int STATE_RUNNING = 1;
    public static final int STATE_PAUSED = 3;
    public static final int STATE_SHUTOFF = 5;
    public static final int RUNNING_BOOTED = 1;
    public static final int RUNNING_UNPAUSED = 5;
    public static final int PAUSED_USER = 1;
    public static final int SHUTOFF_SHUTDOWN = 1;
    public static final int SHUTOFF_DESTROYED = 2;
    public static final int SHUTOFF_CRASHED = 3;

    private volatile DomainDefinition definition;
    private volatile boolean autostart;
    private volatile int state = STATE_SHUTOFF;
    private volatile int reason;
    private volatile int id = -1;
    private final DomainListener listener;
    private volatile boolean persistent = true;

    Domain(DomainDefinition definition, boolean autostart, DomainListener listener) {
        this.definition = definition;
        this.autostart = autostart;
        this.listener = listener;
    }

    public DomainDefinition definition() {
        return definition;
    }

    void redefine(DomainDefinition newDefinition) {
        this.definition = newDefinition;
    }

    public boolean autostart() {
        return autostart;
    }

    void setAutostart(boolean value) {
        autostart = value;
    }

    public int state() {
        return state;
    }

    public int reason() {
        return reason;
    }

    /** The running domain's ID, -1 when shut off (as libvirt reports). */
    public int id() {
        return id;
    }

    public synchronized void markRunning(int newId, int why) {
        int before = state;
        id = newId;
        state = STATE_RUNNING;
        reason = why;
        if (before == STATE_SHUTOFF) {
            listener.lifecycle(this, DomainListener.STARTED, 0); // booted
        } else if (before == STATE_PAUSED) {
            listener.lifecycle(this, DomainListener.RESUMED, 0); // unpaused
        }
    }

    public synchronized void markPaused() {
        int before = state;
        state = STATE_PAUSED;
        reason = PAUSED_USER;
        if (before != STATE_PAUSED) {
            listener.lifecycle(this, DomainListener.SUSPENDED, 0); // paused
        }
    }

    public synchronized void markShutoff(int why) {
        int before = state;
        id = -1;
        state = STATE_SHUTOFF;
        reason = why;
        if (before != STATE_SHUTOFF) {
            // virDomainEventStoppedDetailType: shutdown 0, destroyed 1, crashed 2
            int detail = why == SHUTOFF_DESTROYED ? 1 : why == SHUTOFF_CRASHED ? 2 : 0;
            listener.lifecycle(this, DomainListener.STOPPED, detail);
        }
    }

    /** False for a transient domain (virsh create, or undefined while running): it vanishes when it stops. */
    public boolean persistent() {
        return persistent;
    }

    void setPersistent(boolean value) {
        persistent = value;
    }

    public boolean isActive() {
        return state != STATE_SHUTOFF;
    }
}
