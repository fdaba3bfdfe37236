package dev.jvirt.daemon.vm;

/**
 * A request on a running domain that cannot be carried out; {@code invalid} when the request
 * does not fit the domain (libvirt's OPERATION_INVALID), otherwise it failed while being done.
 */
public final class VmOperationException extends Exception {

    private final boolean invalid;

    public VmOperationException(String message, boolean invalid) {
        super(message);
        this.invalid = invalid;
    }

    public boolean invalid() {
        return invalid;
    }
}
