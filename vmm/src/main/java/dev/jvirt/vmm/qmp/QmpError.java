package dev.jvirt.vmm.qmp;

/** A command failure, carrying QMP's error class (GenericError, CommandNotFound, ...). */
public final class QmpError extends Exception {

    private final String errorClass;

    public QmpError(String errorClass, String description) {
        super(description);
        this.errorClass = errorClass;
    }

    public static QmpError generic(String description) {
        return new QmpError("GenericError", description);
    }

    public String errorClass() {
        return errorClass;
    }
}
