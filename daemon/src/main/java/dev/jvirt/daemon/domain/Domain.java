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

    Domain(DomainDefinition definition, boolean autostart) {
        this.definition = definition;
        this.autostart = autostart;
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
        id = newId;
        state = STATE_RUNNING;
        reason = why;
    }

    public synchronized void markPaused() {
        state = STATE_PAUSED;
        reason = PAUSED_USER;
    }

    public synchronized void markShutoff(int why) {
        id = -1;
        state = STATE_SHUTOFF;
        reason = why;
    }

    public boolean isActive() {
        return state != STATE_SHUTOFF;
    }
}
