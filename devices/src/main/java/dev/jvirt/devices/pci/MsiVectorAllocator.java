package dev.jvirt.devices.pci;

/** Hands out {@link MsiVector}s; implemented by the machine over its interrupt controller. */
@FunctionalInterface
public interface MsiVectorAllocator {

    MsiVector allocate();
}
