package dev.jvirt.img;

/** A command-line mistake, reported as one line with exit status 1. */
final class UsageException extends Exception {

    UsageException(String message) {
        super(message);
    }
}
