package dev.jvirt.vmm.interrupts;

import dev.jvirt.devices.pci.MsiVector;
import dev.jvirt.devices.pci.MsiVectorAllocator;
import dev.jvirt.kvm.EventFd;
import dev.jvirt.kvm.GsiRoute;
import dev.jvirt.kvm.IrqRouting;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vm;
import dev.jvirt.kvm.sys.NativeException;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * MSI/MSI-X delivery on KVM the way QEMU does it: each vector owns a GSI from 24 upward whose
 * route carries the guest's message, and an irqfd bound to that GSI, so firing is one eventfd
 * write and needs no ioctl and no vCPU exit.
 *
 * <p>KVM_SET_GSI_ROUTING replaces the whole table, so every change resends the legacy routes
 * given at construction (pushed at once, so the table is the same before and after the first
 * MSI) plus the routes of every programmed vector.
 *
 * <p>A vector falls back to KVM_SIGNAL_MSI (one ioctl per interrupt, still no exit) when no GSI
 * is free or KVM refuses its route or irqfd, so running out of GSIs slows a device rather than
 * silencing it. A message whose address is not in the x86 interrupt window (0xFEExxxxx) is a
 * guest error: the vector stays silent, and that is logged once.
 *
 * <p>Thread safety: one lock guards GSIs and the table (vCPU and device threads program and
 * close); {@link MsiVector#trigger} reads one volatile and takes no lock here.
 */
public final class KvmMsiVectors implements MsiVectorAllocator, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(KvmMsiVectors.class.getName());

    /** First GSI for MSI routes: 0-23 are the PIC and IOAPIC lines. */
    public static final int FIRST_MSI_GSI = IrqRouting.FIRST_FREE_GSI;

    private final InterruptBackend backend;
    private final List<GsiRoute> legacyRoutes;
    private final int maxRoutes;
    private final BitSet usedGsis = new BitSet();
    private final Set<Vector> vectors = new LinkedHashSet<>();
    private List<GsiRoute> pushedTable;
    private final AtomicBoolean loggedBadAddress = new AtomicBoolean();
    private final AtomicBoolean loggedFallback = new AtomicBoolean();
    private final AtomicBoolean loggedSignalFailure = new AtomicBoolean();

    /** Legacy lines wired as the PC's firmware tables describe them ({@link IrqRouting#pcDefaults()}). */
    public KvmMsiVectors(Vm vm) throws KvmException {
        this(vm, IrqRouting.pcDefaults());
    }

    /**
     * Checks KVM_CAP_IRQ_ROUTING, KVM_CAP_IRQFD and KVM_CAP_SIGNAL_MSI (the exception names the
     * missing one) and installs {@code legacyRoutes} as the routing table.
     */
    public KvmMsiVectors(Vm vm, List<GsiRoute> legacyRoutes) throws KvmException {
        this(checked(vm), legacyRoutes);
    }

    private static InterruptBackend checked(Vm vm) throws KvmException {
        vm.requireCapabilities(InterruptBackend.MSI_CAPABILITIES);
        return InterruptBackend.of(vm);
    }

    KvmMsiVectors(InterruptBackend backend, List<GsiRoute> legacyRoutes) throws KvmException {
        for (GsiRoute route : legacyRoutes) {
            if (route.gsi() >= FIRST_MSI_GSI) {
                throw new IllegalArgumentException("legacy route " + route + " uses a GSI from " + FIRST_MSI_GSI + ", which MSI vectors own");
            }
        }
        this.backend = backend;
        this.legacyRoutes = List.copyOf(legacyRoutes);
        this.maxRoutes = backend.maxGsiRoutes();
        backend.setGsiRouting(this.legacyRoutes);
        this.pushedTable = this.legacyRoutes;
    }

    /** Never fails: without a free GSI or an eventfd the vector delivers through KVM_SIGNAL_MSI. */
    @Override
    public MsiVector allocate() {
        synchronized (this) {
            int gsi = usedGsis.nextClearBit(FIRST_MSI_GSI);
            EventFd eventFd = null;
            if (gsi < maxRoutes) {
                try {
                    eventFd = EventFd.create();
                    usedGsis.set(gsi);
                } catch (NativeException e) {
                    logFallback("no eventfd for an MSI vector: " + e.getMessage());
                }
            } else {
                logFallback("all " + (maxRoutes - FIRST_MSI_GSI) + " MSI GSIs are in use");
            }
            Vector vector = eventFd != null ? new Vector(gsi, eventFd) : new Vector(-1, null);
            vectors.add(vector);
            return vector;
        }
    }

    /** The table last given to KVM_SET_GSI_ROUTING: legacy routes, then MSI routes by GSI. */
    synchronized List<GsiRoute> routingTable() {
        return pushedTable;
    }

    /** Closes every vector still allocated (machine teardown). */
    @Override
    public void close() {
        List<Vector> open;
        synchronized (this) {
            open = new ArrayList<>(vectors);
        }
        open.forEach(Vector::close);
    }

    /** The MSI message window of x86: writes to 0xFEExxxxx (high half zero) are interrupts. */
    static boolean isInterruptAddress(long address) {
        return (address >>> 20) == 0xFEE;
    }

    /** Resends the routing table; the caller holds the lock. */
    private void pushTable() throws KvmException {
        List<GsiRoute> table = new ArrayList<>(legacyRoutes);
        vectors.stream()
                .map(vector -> vector.route)
                .filter(route -> route != null)
                .sorted(Comparator.comparingInt(GsiRoute::gsi))
                .forEach(table::add);
        backend.setGsiRouting(table);
        pushedTable = List.copyOf(table);
    }

    private void logFallback(String why) {
        if (loggedFallback.compareAndSet(false, true)) {
            LOG.log(Level.WARNING, why + "; MSI vectors fall back to KVM_SIGNAL_MSI (one ioctl per interrupt)");
        }
    }

    private record Message(long address, int data) {
    }

    /** How {@link Vector#trigger} delivers: nothing, an irqfd write, or KVM_SIGNAL_MSI of the message. */
    private enum Delivery { NONE, IRQFD, SIGNAL }

    private final class Vector implements MsiVector {

        private final int gsi;
        private final EventFd eventFd;
        /** Guarded by the allocator's lock. */
        private GsiRoute.Msi route;
        private boolean irqfdBound;
        private boolean closed;
        /** Read by {@link #trigger} without the lock; written together under it (message first). */
        private volatile Message message;
        private volatile Delivery delivery = Delivery.NONE;

        Vector(int gsi, EventFd eventFd) {
            this.gsi = gsi;
            this.eventFd = eventFd;
        }

        @Override
        public void program(long address, int data) {
            synchronized (KvmMsiVectors.this) {
                if (closed) {
                    return;
                }
                Message programmed = new Message(address, data);
                if (programmed.equals(message) && delivery != Delivery.NONE) {
                    return; // rewritten unchanged (a mask/unmask cycle): no table push
                }
                if (!isInterruptAddress(address)) {
                    if (loggedBadAddress.compareAndSet(false, true)) {
                        LOG.log(Level.WARNING, "guest programmed MSI address 0x" + Long.toHexString(address)
                                + ", outside the interrupt window 0xFEE00000-0xFEEFFFFF; that vector stays silent");
                    }
                    delivery = Delivery.NONE;
                    message = programmed;
                    return;
                }
                message = programmed;
                delivery = gsi >= 0 && routeThroughIrqfd(programmed) ? Delivery.IRQFD : Delivery.SIGNAL;
            }
        }

        /** Installs the route and binds the irqfd; false (after logging) if KVM refused either. */
        private boolean routeThroughIrqfd(Message programmed) {
            GsiRoute.Msi previous = route;
            route = new GsiRoute.Msi(gsi, programmed.address(), programmed.data());
            try {
                pushTable();
            } catch (KvmException | IllegalArgumentException e) {
                route = previous;
                logFallback("GSI " + gsi + "'s MSI route was refused: " + e.getMessage());
                return false;
            }
            if (!irqfdBound) {
                try {
                    backend.registerIrqfd(eventFd, gsi);
                    irqfdBound = true;
                } catch (KvmException e) {
                    logFallback("irqfd for GSI " + gsi + " was refused: " + e.getMessage());
                    return false;
                }
            }
            return true;
        }

        @Override
        public void trigger() {
            switch (delivery) {
                case IRQFD -> eventFd.signal();
                case SIGNAL -> signal(message);
                case NONE -> { }
            }
        }

        private void signal(Message current) {
            try {
                backend.signalMsi(current.address(), current.data());
            } catch (KvmException e) {
                if (loggedSignalFailure.compareAndSet(false, true)) {
                    LOG.log(Level.WARNING, "MSI to 0x" + Long.toHexString(current.address()) + " lost: " + e.getMessage());
                }
            }
        }

        @Override
        public void close() {
            synchronized (KvmMsiVectors.this) {
                if (closed) {
                    return;
                }
                closed = true;
                delivery = Delivery.NONE;
                vectors.remove(this);
                if (gsi < 0) {
                    return;
                }
                if (irqfdBound) {
                    try {
                        backend.unregisterIrqfd(eventFd, gsi);
                    } catch (KvmException e) {
                        LOG.log(Level.WARNING, "releasing GSI " + gsi + "'s irqfd: " + e.getMessage());
                    }
                }
                if (route != null) {
                    route = null;
                    try {
                        pushTable();
                    } catch (KvmException | IllegalArgumentException e) {
                        LOG.log(Level.WARNING, "removing GSI " + gsi + "'s MSI route: " + e.getMessage());
                    }
                }
                eventFd.close();
                usedGsis.clear(gsi);
            }
        }

        @Override
        public String toString() {
            return "MSI vector on GSI " + gsi;
        }
    }
}
