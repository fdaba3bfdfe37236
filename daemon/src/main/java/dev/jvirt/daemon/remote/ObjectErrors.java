package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.xml.XmlException;

/** Maps the management layer's failures to the libvirt error codes clients act on. */
final class ObjectErrors {

    private static final int NO_NETWORK = 43;
    private static final int NO_STORAGE_POOL = 49;
    private static final int NO_STORAGE_VOL = 50;
    private static final int OPERATION_UNSUPPORTED = 84;
    private static final int STORAGE_VOL_EXIST = 90;

    private ObjectErrors() {
    }

    static RemoteError of(ObjectException e) {
        int code = switch (e.kind()) {
            case NO_POOL -> NO_STORAGE_POOL;
            case NO_VOLUME -> NO_STORAGE_VOL;
            case NO_NETWORK -> NO_NETWORK;
            case INVALID_STATE -> RemoteError.OPERATION_INVALID;
            case XML -> RemoteError.XML_ERROR;
            case UNSUPPORTED -> OPERATION_UNSUPPORTED;
            case VOLUME_EXISTS -> STORAGE_VOL_EXIST;
            case EXISTS, FAILED -> RemoteError.OPERATION_FAILED;
        };
        return new RemoteError(code, e.getMessage());
    }

    static RemoteError of(XmlException e) {
        return new RemoteError(RemoteError.XML_ERROR, "XML error: " + e.getMessage());
    }
}
