package dev.jvirt.daemon.network;

/** A defined network, whether it is active and whether it starts with the daemon. */
public final class Network {

    private volatile NetworkDefinition definition;
    private volatile boolean active;
    private volatile boolean autostart;

    Network(NetworkDefinition definition, boolean autostart) {
        this.definition = definition;
        this.autostart = autostart;
    }

    public NetworkDefinition definition() {
        return definition;
    }

    void redefine(NetworkDefinition newDefinition) {
        definition = newDefinition;
    }

    public boolean isActive() {
        return active;
    }

    void setActive(boolean value) {
        active = value;
    }

    public boolean autostart() {
        return autostart;
    }

    void setAutostart(boolean value) {
        autostart = value;
    }

    public String name() {
        return definition.name();
    }
}
