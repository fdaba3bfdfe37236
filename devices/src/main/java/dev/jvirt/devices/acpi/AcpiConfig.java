package dev.jvirt.devices.acpi;

import java.util.List;

/**
 * What the ACPI tables describe: the CPUs by APIC ID, the IOAPIC, the PM register block and SCI,
 * the PCI window, and where in guest memory the tables go.
 *
 * @param rsdpAddress       guest address of the RSDP; Linux scans 0xE0000-0xFFFFF for it on 16-byte bounds
 * @param tablesBase        guest address where the other tables are laid out, one after another
 * @param gpe0Base          port of the GPE0 block ({@link AcpiPmDevice#gpe0Block()}), or 0 for none
 * @param pciHotplugBase    port of the PCI hot-plug controller (0xAE00 on QEMU), or 0 for no hot-plug
 * @param hotpluggableSlots bit per bus-0 slot given a DSDT slot object the guest can see come and go
 */
public record AcpiConfig(List<Integer> apicIds, int ioApicId, long ioApicAddress, int pmBase, int sciGsi,
                         long pciMmioStart, long pciMmioEnd, long rsdpAddress, long tablesBase,
                         int gpe0Base, int pciHotplugBase, int hotpluggableSlots) {

    public static final long LOCAL_APIC_ADDRESS = 0xFEE0_0000L;

    public AcpiConfig {
        apicIds = List.copyOf(apicIds);
        if (pciHotplugBase != 0 && gpe0Base == 0) {
            throw new IllegalArgumentException("PCI hot-plug signals the guest through GPE0: give the GPE0 block a port");
        }
        if (pciHotplugBase == 0 && hotpluggableSlots != 0) {
            throw new IllegalArgumentException("hot-pluggable slots need the PCI hot-plug controller's port");
        }
    }

    /** A machine without a GPE block or PCI hot-plug. */
    public AcpiConfig(List<Integer> apicIds, int ioApicId, long ioApicAddress, int pmBase, int sciGsi,
                      long pciMmioStart, long pciMmioEnd, long rsdpAddress, long tablesBase) {
        this(apicIds, ioApicId, ioApicAddress, pmBase, sciGsi, pciMmioStart, pciMmioEnd, rsdpAddress, tablesBase, 0, 0, 0);
    }

    /** The same machine with a GPE0 block at {@code gpe0Base} and ACPI PCI hot-plug of {@code slots}. */
    public AcpiConfig withPciHotplug(int gpe0Base, int pciHotplugBase, int slots) {
        return new AcpiConfig(apicIds, ioApicId, ioApicAddress, pmBase, sciGsi, pciMmioStart, pciMmioEnd, rsdpAddress,
                tablesBase, gpe0Base, pciHotplugBase, slots);
    }
}
