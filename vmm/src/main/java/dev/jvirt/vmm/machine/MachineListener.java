package dev.jvirt.vmm.machine;

/** What the machine tells its controllers (QMP) about: QEMU's STOP, RESUME, SHUTDOWN, POWERDOWN events. */
public interface MachineListener {

    default void stopped() { }

    default void resumed() { }

    default void poweringDown() { }

    default void shutdown(Termination termination) { }
}
