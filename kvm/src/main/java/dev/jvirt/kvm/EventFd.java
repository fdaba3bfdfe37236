package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A Linux eventfd: a 64-bit counter behind a file descriptor. KVM signals one when the guest
 * writes an ioeventfd's address, and injects an interrupt when one bound as an irqfd is signalled,
 * so neither direction needs a vCPU exit.
 *
 * <p>The descriptor is non-blocking: {@link #consume} never waits, {@link #await} waits with
 * poll(2). {@link #signal} and {@link #close} are serialised, so a device thread that signals
 * while another thread closes never writes into a descriptor number the kernel has handed out
 * again to an unrelated file.
 */
public final class EventFd implements AutoCloseable {

    /** Each signalling or consuming thread reuses its own 8-byte buffer: no allocation per call. */
    private static final ThreadLocal<MemorySegment> COUNTER_BUFFER =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(8, 8));

    private final int fd;
    private boolean closed;

    private EventFd(int fd) {
        this.fd = fd;
    }

    /** A new eventfd with counter 0 (EFD_CLOEXEC | EFD_NONBLOCK). */
    public static EventFd create() throws NativeException {
        return new EventFd(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
    }

    /** The descriptor, for the KVM_IRQFD/KVM_IOEVENTFD ioctls and epoll. */
    public int fd() {
        return fd;
    }

    /**
     * Adds one to the counter, waking whoever waits on it (for an irqfd: KVM, which injects).
     * Returns false if the eventfd is closed. A counter at its maximum is already signalled, so
     * EAGAIN is as good as success.
     */
    public synchronized boolean signal() {
        if (closed) {
            return false;
        }
        MemorySegment buffer = COUNTER_BUFFER.get();
        buffer.set(JAVA_LONG, 0, 1L);
        long written = Libc.write(fd, buffer);
        return written == 8 || written == -Libc.EAGAIN;
    }

    /**
     * Reads and resets the counter: the number of signals since the last read, 0 if none (or if
     * closed).
     */
    public synchronized long consume() {
        if (closed) {
            return 0;
        }
        MemorySegment buffer = COUNTER_BUFFER.get();
        long read = Libc.read(fd, buffer);
        return read == 8 ? buffer.get(JAVA_LONG, 0) : 0;
    }

    /**
     * Waits up to {@code timeoutMillis} for a signal and consumes it: the counter, or 0 if none
     * came in time.
     */
    public long await(int timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (true) {
            long value = consume();
            if (value != 0) {
                return value;
            }
            long remaining = (deadline - System.nanoTime()) / 1_000_000L;
            if (remaining <= 0 || isClosed()) {
                return 0;
            }
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            // Short slices so an interrupt or close is noticed while we sit in poll(2).
            Libc.poll(fd, Libc.POLLIN, (int) Math.min(remaining, 100));
        }
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }

    @Override
    public String toString() {
        return "eventfd " + fd;
    }
}
