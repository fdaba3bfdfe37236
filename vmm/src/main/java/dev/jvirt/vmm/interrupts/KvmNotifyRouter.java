package dev.jvirt.vmm.interrupts;

import dev.jvirt.kvm.Capability;
import dev.jvirt.kvm.EventFd;
import dev.jvirt.kvm.EventPoller;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vm;
import dev.jvirt.kvm.sys.NativeException;
import dev.jvirt.virtio.pci.NotifyRouter;

import java.lang.System.Logger.Level;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Queue kicks as ioeventfds: KVM completes the guest's notify write in the kernel and signals an
 * eventfd, and one platform thread named {@value #THREAD_NAME} waits on all of them with epoll and
 * runs each route's kick. The vCPU never leaves the guest for a kick.
 *
 * <p>A kick runs on the event thread, so a slow one delays the others; devices hand real work to
 * their own threads. A kick already running when its route is closed may finish after
 * {@link Route#close} returns (waiting for it could deadlock against the transport's lock);
 * none starts after.
 */
public final class KvmNotifyRouter implements NotifyRouter, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(KvmNotifyRouter.class.getName());

    public static final String THREAD_NAME = "ioeventfd";

    /** Token of the eventfd that wakes the event thread to stop; routes count from 1. */
    private static final long WAKE_TOKEN = 0;

    private final InterruptBackend backend;
    private final EventPoller poller;
    private final EventFd wake;
    private final Map<Long, KickRoute> routes = new ConcurrentHashMap<>();
    private final AtomicLong nextToken = new AtomicLong(WAKE_TOKEN + 1);
    private final AtomicBoolean loggedFailure = new AtomicBoolean();
    private final Thread eventThread;
    private volatile boolean stopping;

    /** Checks KVM_CAP_IOEVENTFD (the exception names it if missing) and starts the event thread. */
    public KvmNotifyRouter(Vm vm) throws NativeException {
        this(checked(vm));
    }

    private static InterruptBackend checked(Vm vm) throws KvmException {
        vm.requireCapabilities(Capability.IOEVENTFD);
        return InterruptBackend.of(vm);
    }

    KvmNotifyRouter(InterruptBackend backend) throws NativeException {
        this.backend = backend;
        this.poller = EventPoller.create();
        try {
            this.wake = EventFd.create();
            poller.add(wake, WAKE_TOKEN);
        } catch (NativeException e) {
            poller.close();
            throw e;
        }
        this.eventThread = Thread.ofPlatform().name(THREAD_NAME).daemon().start(this::runEvents);
    }

    @Override
    public Route route(long address, int length, Runnable kick) {
        if (stopping) {
            return null;
        }
        if (length != 1 && length != 2 && length != 4 && length != 8) {
            logFailure("notify write length " + length + " at 0x" + Long.toHexString(address) + " cannot be an ioeventfd");
            return null;
        }
        EventFd eventFd;
        try {
            eventFd = EventFd.create();
        } catch (NativeException e) {
            logFailure(e.getMessage());
            return null;
        }
        KickRoute route = new KickRoute(nextToken.getAndIncrement(), address, length, eventFd, kick);
        try {
            backend.registerIoeventfd(address, length, eventFd);
        } catch (KvmException e) {
            logFailure(e.getMessage());
            eventFd.close();
            return null;
        }
        routes.put(route.token, route);
        try {
            poller.add(eventFd, route.token);
        } catch (NativeException e) {
            logFailure(e.getMessage());
            route.close();
            return null;
        }
        return route;
    }

    /** The number of open routes (for tests and monitoring). */
    public int routeCount() {
        return routes.size();
    }

    private void logFailure(String why) {
        if (loggedFailure.compareAndSet(false, true)) {
            LOG.log(Level.WARNING, "no ioeventfd for a queue notify address, kicks will exit to the VMM: " + why);
        }
    }

    private void runEvents() {
        while (!stopping) {
            try {
                poller.await(-1, this::dispatch);
            } catch (NativeException e) {
                if (!stopping) { // a kick that closed the router closes the poller under us
                    LOG.log(Level.ERROR, "ioeventfd thread stops, queue kicks are lost: " + e.getMessage());
                }
                return;
            }
        }
    }

    private void dispatch(long token) {
        if (token == WAKE_TOKEN) {
            wake.consume();
            return;
        }
        KickRoute route = routes.get(token);
        if (route == null || route.closed.get()) {
            return;
        }
        if (route.eventFd.consume() == 0) {
            return;
        }
        try {
            route.kick.run();
        } catch (RuntimeException e) {
            // One device's bug must not stop every other queue's kicks.
            LOG.log(Level.ERROR, "kick of notify address 0x" + Long.toHexString(route.address) + " failed", e);
        }
    }

    /** Closes every route and stops the event thread. */
    @Override
    public void close() {
        if (stopping) {
            return;
        }
        stopping = true;
        wake.signal();
        if (Thread.currentThread() != eventThread) {
            try {
                eventThread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        List.copyOf(routes.values()).forEach(KickRoute::close);
        poller.close();
        wake.close();
    }

    private final class KickRoute implements Route {

        final long token;
        final long address;
        final int length;
        final EventFd eventFd;
        final Runnable kick;
        final AtomicBoolean closed = new AtomicBoolean();

        KickRoute(long token, long address, int length, EventFd eventFd, Runnable kick) {
            this.token = token;
            this.address = address;
            this.length = length;
            this.eventFd = eventFd;
            this.kick = kick;
        }

        @Override
        public void close() {
            if (!closed.compareAndSet(false, true)) {
                return;
            }
            // Back to MMIO exits first, so no write lands in an eventfd nobody reads.
            try {
                backend.unregisterIoeventfd(address, length, eventFd);
            } catch (KvmException e) {
                LOG.log(Level.WARNING, e.getMessage());
            }
            routes.remove(token);
            poller.remove(eventFd);
            eventFd.close();
        }

        @Override
        public String toString() {
            return "ioeventfd at 0x" + Long.toHexString(address) + "/" + length;
        }
    }
}
