package dev.jvirt.daemon.domain;

/**
 * A defined domain and its run state. Until the daemon starts VMs (next step), every domain is
 * shut off; the state fields are here so lifecycle calls have somewhere to record it.
 */
public final class Domain {

    /** virDomainState values. */
    public static final int STATE_RUNNING = 1;
    public static final int STATE_PAUSED = 3;
    public static final int STATE_SHUTOFF = 5;

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

    public boolean isActive() {
        return state != STATE_SHUTOFF;
    }
}
