package dev.jvirt.block;

import java.io.IOException;

/** An image that cannot be used as it is (malformed, unsupported, inconsistent); the message says why. */
public class ImageException extends IOException {

    public ImageException(String message) {
        super(message);
    }
}
