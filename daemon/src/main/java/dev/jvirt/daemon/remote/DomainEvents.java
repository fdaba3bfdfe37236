package dev.jvirt.daemon.remote;

import dev.jvirt.daemon.domain.Domain;
import dev.jvirt.daemon.domain.DomainListener;
import dev.jvirt.daemon.rpc.RpcMessage;
import dev.jvirt.daemon.rpc.XdrWriter;

import java.nio.ByteBuffer;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Domain lifecycle events for clients that registered for them (virsh event, libvirt-python's
 * domainEventRegisterAny): each change becomes a REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE message.
 */
final class DomainEvents implements DomainListener {

    static final int EVENT_LIFECYCLE = 107;

    private final Set<Session> subscribers = ConcurrentHashMap.newKeySet();

    void subscribe(Session session) {
        if (subscribers.add(session)) {
            session.onClose(() -> subscribers.remove(session));
        }
    }

    void unsubscribe(Session session) {
        subscribers.remove(session);
    }

    @Override
    public void lifecycle(Domain domain, int event, int detail) {
        if (subscribers.isEmpty()) {
            return;
        }
        UUID uuid = domain.definition().uuid();
        byte[] body = new XdrWriter().writeString(domain.definition().name())
                .writeFixedOpaque(ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits()).array())
                .writeInt(domain.id()).writeInt(event).writeInt(detail).toByteArray();
        byte[] packet = RpcMessage.encode(RemoteProgram.PROGRAM, RemoteProgram.VERSION, EVENT_LIFECYCLE, RpcMessage.TYPE_MESSAGE, 0,
                RpcMessage.STATUS_OK, body);
        for (Session session : subscribers) {
            session.push(packet);
        }
    }
}
