package dev.jvirt.daemon.xml;

/** An XML definition that cannot be accepted; the message names the problem (line and column for syntax errors). */
public class XmlException extends Exception {

    public XmlException(String message) {
        super(message);
    }
}
