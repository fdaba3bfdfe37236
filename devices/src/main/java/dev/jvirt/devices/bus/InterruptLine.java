package dev.jvirt.devices.bus;

/**
 * One interrupt input of the machine's interrupt controller, as a device sees it.
 * The machine decides what a level change means (a GSI on the in-kernel IOAPIC/PIC, say);
 * devices only say whether they are asserting it.
 */
@FunctionalInterface
public interface InterruptLine {

    void setLevel(boolean asserted);

    /** An edge: assert then deassert, for devices whose interrupt is a pulse. */
    default void pulse() {
        setLevel(true);
        setLevel(false);
    }

    InterruptLine NONE = asserted -> { };
}
