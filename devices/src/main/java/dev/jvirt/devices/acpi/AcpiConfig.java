package dev.jvirt.devices.acpi;

import java.util.List;

/**
 * What the ACPI tables describe: the CPUs by APIC ID, the IOAPIC, the PM register block and SCI,
 * the PCI window, and where in guest memory the tables go.
 *
 * @param rsdpAddress  guest address of the RSDP; Linux scans 0xE0000-0xFFFFF for it on 16-byte bounds
 * @param tablesBase   guest address where the other tables are laid out, one after another
 */
public record AcpiConfig(List<Integer> apicIds, int ioApicId, long ioApicAddress, int pmBase, int sciGsi,
                         long pciMmioStart, long pciMmioEnd, long rsdpAddress, long tablesBase) {

    public static final long LOCAL_APIC_ADDRESS = 0xFEE0_0000L;
}
