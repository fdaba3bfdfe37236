package dev.jvirt.vmm.interrupts;

import dev.jvirt.kvm.EventFd;
import dev.jvirt.kvm.GsiRoute;
import dev.jvirt.kvm.KvmException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Stands in for KVM: records what the plumbing asked for, and can refuse it. */
final class RecordingBackend implements InterruptBackend {

    private static final int EINVAL = 22;

    int maxRoutes = 4096;
    boolean refuseRouting;
    boolean refuseIrqfd;
    boolean refuseIoeventfd;
    final List<List<GsiRoute>> tables = new ArrayList<>();
    final Map<Integer, EventFd> irqfds = new HashMap<>();
    final List<String> signalled = new ArrayList<>();
    final Map<Long, EventFd> ioeventfds = new HashMap<>();

    List<GsiRoute> lastTable() {
        return tables.getLast();
    }

    @Override
    public int maxGsiRoutes() {
        return maxRoutes;
    }

    @Override
    public synchronized void setGsiRouting(List<GsiRoute> routes) throws KvmException {
        if (refuseRouting) {
            throw new KvmException("KVM_SET_GSI_ROUTING", EINVAL);
        }
        tables.add(List.copyOf(routes));
    }

    @Override
    public synchronized void registerIrqfd(EventFd eventFd, int gsi) throws KvmException {
        if (refuseIrqfd) {
            throw new KvmException("KVM_IRQFD", EINVAL);
        }
        if (irqfds.putIfAbsent(gsi, eventFd) != null) {
            throw new KvmException("KVM_IRQFD (GSI " + gsi + " bound twice)", 17);
        }
    }

    @Override
    public synchronized void unregisterIrqfd(EventFd eventFd, int gsi) {
        irqfds.remove(gsi, eventFd);
    }

    @Override
    public synchronized boolean signalMsi(long address, int data) {
        signalled.add(Long.toHexString(address) + ":" + Integer.toHexString(data));
        return true;
    }

    @Override
    public synchronized void registerIoeventfd(long address, int length, EventFd eventFd) throws KvmException {
        if (refuseIoeventfd || ioeventfds.containsKey(address)) {
            throw new KvmException("KVM_IOEVENTFD", 17);
        }
        ioeventfds.put(address, eventFd);
    }

    @Override
    public synchronized void unregisterIoeventfd(long address, int length, EventFd eventFd) {
        ioeventfds.remove(address, eventFd);
    }

    /** What KVM does when the guest writes a registered address. */
    synchronized boolean guestWrites(long address) {
        EventFd eventFd = ioeventfds.get(address);
        return eventFd != null && eventFd.signal();
    }
}
