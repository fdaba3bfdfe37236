package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.rpc.RpcMessage;

/** Turns a call into its reply packet: the procedure's result, or an error reply. */
public final class RemoteReplies {

    private RemoteReplies() {
    }

    public static byte[] answer(RemoteProgram program, RpcMessage call, Session session) {
        if (call.program() != RemoteProgram.PROGRAM || call.version() != RemoteProgram.VERSION) {
            RemoteError error = new RemoteError(RemoteError.RPC, "cannot find program " + Integer.toHexString(call.program())
                    + " version " + call.version());
            return call.reply(RpcMessage.STATUS_ERROR, error.encode());
        }
        try {
            return call.reply(RpcMessage.STATUS_OK, program.dispatch(call.procedure(), call.payload(), session));
        } catch (RemoteError e) {
            return call.reply(RpcMessage.STATUS_ERROR, e.encode());
        } catch (RuntimeException e) {
            return call.reply(RpcMessage.STATUS_ERROR, new RemoteError(RemoteError.INTERNAL_ERROR, "internal error: " + e).encode());
        }
    }
}
