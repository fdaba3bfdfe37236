package dev.jvirt.vmm.cli;

/** A command-line mistake: printed as one line, exit status 1, as QEMU does. */
public final class UsageException extends Exception {

    public UsageException(String message) {
        super(message);
    }
}
