package dev.jvirt.daemon.storage;

/** A defined storage pool, whether it is active (started) and whether it starts with the daemon. */
public final class StoragePool {

    /** virStoragePoolState values. */
    public static final int STATE_INACTIVE = 0;
    public static final int STATE_RUNNING = 2;

    private volatile PoolDefinition definition;
    private volatile boolean active;
    private volatile boolean autostart;

    StoragePool(PoolDefinition definition, boolean autostart) {
        this.definition = definition;
        this.autostart = autostart;
    }

    public PoolDefinition definition() {
        return definition;
    }

    void redefine(PoolDefinition newDefinition) {
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
