package dev.jvirt.devices.pci;

/**
 * One MSI/MSI-X message source as the machine delivers it: the device (its MSI-X table) says
 * what the guest programmed and when to fire; the machine turns that into an interrupt at the
 * guest's local APIC (on KVM: a GSI route and an irqfd, so firing needs no vCPU exit).
 */
public interface MsiVector extends AutoCloseable {

    /** The guest wrote this message address and data into the table entry. */
    void program(long address, int data);

    /** Delivers the programmed message now. Only called for an unmasked, programmed vector. */
    void trigger();

    /** The vector is no longer used (device reset or unplug). */
    @Override
    void close();
}
