package dev.jvirt.daemon.vm;

/** A domain that cannot be started as defined; the message says why. */
public final class VmStartException extends Exception {

    public VmStartException(String message) {
        super(message);
    }
}
