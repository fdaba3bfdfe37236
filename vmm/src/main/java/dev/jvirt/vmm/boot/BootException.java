package dev.jvirt.vmm.boot;

/** The kernel, initrd or command line cannot be booted as given; the message says why. */
public final class BootException extends Exception {

    public BootException(String message) {
        super(message);
    }
}
