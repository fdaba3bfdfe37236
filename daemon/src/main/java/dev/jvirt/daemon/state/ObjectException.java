package dev.jvirt.daemon.state;

/**
 * A management request that cannot be carried out (storage, networks); the kind tells the RPC
 * layer which libvirt error code clients expect, the message is what virsh prints.
 */
public final class ObjectException extends Exception {

    public enum Kind { NO_POOL, NO_VOLUME, NO_NETWORK, INVALID_STATE, EXISTS, VOLUME_EXISTS, XML, FAILED, UNSUPPORTED }

    private final Kind kind;

    public ObjectException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
