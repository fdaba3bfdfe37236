package dev.jvirt.devices.acpi;

/** One table to be copied into guest memory at {@code address}. */
public record AcpiTable(String signature, long address, byte[] bytes) { }
