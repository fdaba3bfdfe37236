package dev.jvirt.devices.pci;

import dev.jvirt.devices.bus.MmioDevice;

import java.util.Objects;

/**
 * PCI Express enhanced configuration access (ECAM, "MMCONFIG") over the same bus: 4 KiB of
 * config space per function at offset {@code bus << 20 | device << 15 | function << 12}. Our
 * devices are conventional PCI, so only the first 256 bytes of each 4 KiB exist; the rest, like
 * absent functions, reads as all ones. Register it at the address the ACPI MCFG table gives,
 * {@link #sizeForBuses} bytes long.
 */
public final class PciEcam implements MmioDevice {

    private final PciBus bus;

    public PciEcam(PciBus bus) {
        this.bus = Objects.requireNonNull(bus, "bus");
    }

    /** The MMIO window covering buses 0 to {@code buses - 1}. */
    public static long sizeForBuses(int buses) {
        if (buses < 1 || buses > 256) {
            throw new IllegalArgumentException("ECAM covers 1 to 256 buses, not " + buses);
        }
        return (long) buses << 20;
    }

    @Override
    public long read(long offset, int size) {
        long allOnes = size >= 8 ? -1L : (1L << (8 * Math.max(size, 0))) - 1;
        PciDevice device = device(offset);
        int register = (int) (offset & 0xFFF);
        if (device == null || !fits(register, size)) {
            return allOnes;
        }
        return device.readConfig(register, size) & allOnes;
    }

    @Override
    public void write(long offset, int size, long value) {
        PciDevice device = device(offset);
        int register = (int) (offset & 0xFFF);
        if (device != null && fits(register, size)) {
            device.writeConfig(register, size, (int) value);
        }
    }

    private PciDevice device(long offset) {
        if (offset < 0 || offset >= 256L << 20) {
            return null;
        }
        return bus.device((int) (offset >> 20) & 0xFF, (int) (offset >> 15) & 0x1F, (int) (offset >> 12) & 0x7);
    }

    /** Accesses must be naturally aligned and inside the conventional 256 bytes. */
    private static boolean fits(int register, int size) {
        return (size == 1 || size == 2 || size == 4) && (register & (size - 1)) == 0
                && register + size <= PciConfigSpace.SIZE;
    }
}
