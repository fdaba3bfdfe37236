package dev.jvirt.vmm.interrupts;

import dev.jvirt.kvm.Capability;
import dev.jvirt.kvm.EventFd;
import dev.jvirt.kvm.GsiRoute;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vm;

import java.util.List;

/**
 * The few VM ioctls the interrupt plumbing makes, as a seam: {@link #of(Vm)} is KVM, tests
 * substitute a recorder so GSI allocation and routing tables can be checked without /dev/kvm.
 */
interface InterruptBackend {

    int maxGsiRoutes() throws KvmException;

    void setGsiRouting(List<GsiRoute> routes) throws KvmException;

    void registerIrqfd(EventFd eventFd, int gsi) throws KvmException;

    void unregisterIrqfd(EventFd eventFd, int gsi) throws KvmException;

    boolean signalMsi(long address, int data) throws KvmException;

    /** An MMIO ioeventfd without datamatch. */
    void registerIoeventfd(long address, int length, EventFd eventFd) throws KvmException;

    void unregisterIoeventfd(long address, int length, EventFd eventFd) throws KvmException;

    static InterruptBackend of(Vm vm) {
        return new InterruptBackend() {
            @Override
            public int maxGsiRoutes() throws KvmException {
                return vm.maxGsiRoutes();
            }

            @Override
            public void setGsiRouting(List<GsiRoute> routes) throws KvmException {
                vm.setGsiRouting(routes);
            }

            @Override
            public void registerIrqfd(EventFd eventFd, int gsi) throws KvmException {
                vm.registerIrqfd(eventFd, gsi);
            }

            @Override
            public void unregisterIrqfd(EventFd eventFd, int gsi) throws KvmException {
                vm.unregisterIrqfd(eventFd, gsi);
            }

            @Override
            public boolean signalMsi(long address, int data) throws KvmException {
                return vm.signalMsi(address, data);
            }

            @Override
            public void registerIoeventfd(long address, int length, EventFd eventFd) throws KvmException {
                vm.registerIoeventfd(address, length, eventFd, true);
            }

            @Override
            public void unregisterIoeventfd(long address, int length, EventFd eventFd) throws KvmException {
                vm.unregisterIoeventfd(address, length, eventFd, true);
            }
        };
    }

    /** Capabilities without which MSI delivery through routes and irqfds cannot work at all. */
    Capability[] MSI_CAPABILITIES = {Capability.IRQ_ROUTING, Capability.IRQFD, Capability.SIGNAL_MSI};
}
