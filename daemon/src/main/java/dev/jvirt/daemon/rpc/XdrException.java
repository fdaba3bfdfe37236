package dev.jvirt.daemon.rpc;

import java.io.IOException;

/** A message that does not decode as the XDR it claims to be; the connection is dropped. */
public final class XdrException extends IOException {

    public XdrException(String message) {
        super(message);
    }
}
