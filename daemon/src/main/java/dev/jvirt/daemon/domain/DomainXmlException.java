package dev.jvirt.daemon.domain;

/** Domain XML that cannot be accepted; the message names the problem (and line and column for syntax). */
public final class DomainXmlException extends Exception {

    public DomainXmlException(String message) {
        super(message);
    }
}
