package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.rpc.XdrWriter;

/**
 * A libvirt error returned to the client (remote_error). The code is virErrorNumber, which clients
 * act on (VIR_ERR_NO_SUPPORT makes them fall back); the message is what virsh prints.
 */
public final class RemoteError extends Exception {

    public static final int INTERNAL_ERROR = 1;
    public static final int NO_SUPPORT = 3;
    public static final int INVALID_ARG = 8;
    public static final int OPERATION_FAILED = 9;
    public static final int XML_ERROR = 27;
    public static final int OPERATION_DENIED = 29;
    public static final int RPC = 39;
    public static final int NO_DOMAIN = 42;
    public static final int OPERATION_INVALID = 55;

    private static final int FROM_QEMU = 10;
    private static final int LEVEL_ERROR = 2;

    private final int code;

    public RemoteError(int code, String message) {
        super(message);
        this.code = code;
    }

    public int code() {
        return code;
    }

    public static RemoteError noDomain(String how) {
        return new RemoteError(NO_DOMAIN, "Domain not found: " + how);
    }

    public static RemoteError unsupported(int procedure) {
        return new RemoteError(NO_SUPPORT, "this function is not supported by the connection driver: jvirtd does not implement procedure " + procedure + " yet");
    }

    byte[] encode() {
        return new XdrWriter()
                .writeInt(code)
                .writeInt(FROM_QEMU)
                .writeOptionalString(getMessage())
                .writeInt(LEVEL_ERROR)
                .writeBool(false)           // dom
                .writeOptionalString(null)  // str1
                .writeOptionalString(null)  // str2
                .writeOptionalString(null)  // str3
                .writeInt(0)
                .writeInt(0)
                .writeBool(false)           // net
                .toByteArray();
    }
}
