package dev.jvirt.virtio;

/** A guest drove a virtio device or queue outside the rules; the device goes to NEEDS_RESET. */
public class VirtioException extends Exception {

    public VirtioException(String message) {
        super(message);
    }
}
