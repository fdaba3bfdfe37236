package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.LongConsumer;

/**
 * An epoll set of {@link EventFd}s, each added with a token that comes back when it is ready:
 * one thread can wait on every ioeventfd of a machine. {@link #await} is for one thread at a
 * time; {@link #add} and {@link #remove} may be called from any thread while it waits.
 */
public final class EventPoller implements AutoCloseable {

    private static final int MAX_EVENTS = 32;

    private final int epollFd;
    private final MemorySegment events = Arena.ofAuto().allocate(MAX_EVENTS * Libc.EPOLL_EVENT_SIZE, 8);
    private volatile boolean closed;

    private EventPoller(int epollFd) {
        this.epollFd = epollFd;
    }

    public static EventPoller create() throws NativeException {
        return new EventPoller(Libc.epollCreate1(Libc.EPOLL_CLOEXEC));
    }

    /** Reports {@code token} whenever {@code eventFd} has been signalled and not yet consumed. */
    public void add(EventFd eventFd, long token) throws NativeException {
        if (closed) {
            throw new NativeException("epoll_ctl(ADD " + eventFd + ") on a closed poller", Libc.EBADF);
        }
        int result = Libc.epollCtl(epollFd, Libc.EPOLL_CTL_ADD, eventFd.fd(), Libc.EPOLLIN, token);
        if (result < 0) {
            throw new NativeException("epoll_ctl(ADD " + eventFd + ")", -result);
        }
    }

    /** Stops reporting {@code eventFd}; a no-op if it was never added. */
    public void remove(EventFd eventFd) {
        if (closed) {
            return; // the descriptor number may already belong to someone else
        }
        Libc.epollCtl(epollFd, Libc.EPOLL_CTL_DEL, eventFd.fd(), 0, 0);
    }

    /**
     * Waits up to {@code timeoutMillis} (negative: forever) and passes the token of each ready
     * eventfd to {@code ready}, which must consume it (level-triggered: an unconsumed one is
     * reported again). Returns the number of tokens passed: 0 on timeout or when a signal
     * interrupted the wait.
     */
    public int await(int timeoutMillis, LongConsumer ready) throws NativeException {
        int count = Libc.epollWait(epollFd, events, timeoutMillis);
        if (count == -Libc.EINTR) {
            return 0;
        }
        if (count < 0) {
            throw new NativeException("epoll_wait", -count);
        }
        for (int i = 0; i < count; i++) {
            ready.accept(Libc.epollData(events, i));
        }
        return count;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Libc.close(epollFd);
        }
    }
}
