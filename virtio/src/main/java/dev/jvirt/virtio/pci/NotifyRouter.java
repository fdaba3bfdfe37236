package dev.jvirt.virtio.pci;

/**
 * Lets the machine take queue kicks off the vCPU's exit path: on KVM, an ioeventfd at the
 * queue's notify address whose eventfd a separate thread waits on. The transport asks for a
 * route when the driver sets DRIVER_OK and closes it on reset; where no route can be made,
 * the MMIO exit still reaches the transport, which kicks the queue itself.
 */
@FunctionalInterface
public interface NotifyRouter {

    /** Ignores every request: kicks arrive as MMIO writes (unit tests, or a machine without ioeventfd). */
    NotifyRouter NONE = (address, length, kick) -> null;

    /**
     * Routes guest writes of {@code length} bytes at guest physical {@code address} to
     * {@code kick}. Returns the route to close when the queue stops, or null if it cannot.
     */
    Route route(long address, int length, Runnable kick);

    interface Route extends AutoCloseable {
        @Override
        void close();
    }
}
