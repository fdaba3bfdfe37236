package dev.jvirt.vmm.machine;

/**
 * What the machine tells its controllers (QMP) about: QEMU's STOP, RESUME, SHUTDOWN, POWERDOWN, RESET,
 * BALLOON_CHANGE and DEVICE_DELETED events.
 */
public interface MachineListener {

    default void stopped() { }

    default void resumed() { }

    default void poweringDown() { }

    default void shutdown(Termination termination) { }

    /**
     * The machine was reset in place and boots again; {@code reason} is QMP's ShutdownCause
     * ("guest-reset" or "host-qmp-system-reset"), {@code byGuest} whether the guest asked.
     */
    default void reset(boolean byGuest, String reason) { }

    /** The balloon driver reports the guest now has {@code actualBytes} of memory. */
    default void balloonChanged(long actualBytes) { }

    /** The guest released device {@code id} after device_del; it is gone from the bus. */
    default void deviceDeleted(String id) { }
}
