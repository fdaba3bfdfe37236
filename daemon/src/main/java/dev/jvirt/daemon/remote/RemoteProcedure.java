package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.rpc.XdrReader;

import java.io.IOException;

/** One REMOTE_PROGRAM procedure: decodes its arguments, does the work, returns the encoded reply. */
@FunctionalInterface
interface RemoteProcedure {
    byte[] call(XdrReader args, Session session) throws RemoteError, IOException;
}
