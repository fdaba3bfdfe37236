package dev.jvirt.devices.acpi;

import dev.jvirt.devices.pci.PciHotplugController;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the ACPI tables of jvirt's PC: RSDP → XSDT → {FADT → (FACS, DSDT), MADT}. The machine
 * is a full fixed-hardware ACPI platform (not hardware-reduced), like QEMU's pc: PM1a event and
 * control blocks and a PM timer on ports, SCI on IRQ 9, power button as a fixed feature.
 * References: ACPI 6.4 sections 5.2.5 (RSDP), 5.2.8 (XSDT), 5.2.9 (FADT), 5.2.10 (FACS),
 * 5.2.12 (MADT).
 */
public final class AcpiTables {

    private static final String OEM_ID = "JVIRT ";
    private static final String OEM_TABLE_ID = "JVIRTPC ";
    private static final int HEADER_SIZE = 36;

    private AcpiTables() {
    }

    public static List<AcpiTable> build(AcpiConfig config) {
        long address = align(config.tablesBase(), 64);
        long facsAddress = address;
        byte[] facs = facs();
        address = align(address + facs.length, 16);
        long dsdtAddress = address;
        byte[] dsdt = dsdt(config);
        address = align(address + dsdt.length, 16);
        long fadtAddress = address;
        byte[] fadt = fadt(config, facsAddress, dsdtAddress);
        address = align(address + fadt.length, 16);
        long madtAddress = address;
        byte[] madt = madt(config);
        address = align(address + madt.length, 16);
        long xsdtAddress = address;
        byte[] xsdt = xsdt(fadtAddress, madtAddress);
        byte[] rsdp = rsdp(xsdtAddress);

        List<AcpiTable> tables = new ArrayList<>();
        tables.add(new AcpiTable("RSD PTR ", config.rsdpAddress(), rsdp));
        tables.add(new AcpiTable("XSDT", xsdtAddress, xsdt));
        tables.add(new AcpiTable("FACP", fadtAddress, fadt));
        tables.add(new AcpiTable("FACS", facsAddress, facs));
        tables.add(new AcpiTable("DSDT", dsdtAddress, dsdt));
        tables.add(new AcpiTable("APIC", madtAddress, madt));
        return tables;
    }

    private static long align(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    static byte[] rsdp(long xsdtAddress) {
        ByteBuffer b = le(36);
        b.put("RSD PTR ".getBytes(StandardCharsets.US_ASCII));
        b.put((byte) 0);                                  // checksum of the first 20 bytes
        b.put(OEM_ID.getBytes(StandardCharsets.US_ASCII));
        b.put((byte) 2);                                  // revision: ACPI 2.0+, has the XSDT
        b.putInt(0);                                      // no RSDT
        b.putInt(36);
        b.putLong(xsdtAddress);
        b.put((byte) 0);                                  // extended checksum
        byte[] rsdp = b.array();
        rsdp[8] = checksum(rsdp, 0, 20);
        rsdp[32] = checksum(rsdp, 0, 36);
        return rsdp;
    }

    static byte[] xsdt(long... entries) {
        ByteBuffer b = header("XSDT", HEADER_SIZE + 8 * entries.length, 1);
        for (long entry : entries) {
            b.putLong(entry);
        }
        return finish(b);
    }

    static byte[] facs() {
        ByteBuffer b = le(64);
        b.put("FACS".getBytes(StandardCharsets.US_ASCII));
        b.putInt(64);
        b.putInt(0);           // hardware signature
        b.putInt(0);           // firmware waking vector
        b.putInt(0);           // global lock
        b.putInt(0);           // flags
        b.putLong(0);          // X firmware waking vector
        b.put((byte) 2);       // version
        return b.array();
    }

    static byte[] fadt(AcpiConfig config, long facsAddress, long dsdtAddress) {
        int pm = config.pmBase();
        ByteBuffer b = header("FACP", 276, 6);
        // FIRMWARE_CTRL stays 0: the spec wants only one of it and X_FIRMWARE_CTRL set.
        b.putInt(40, (int) dsdtAddress);
        b.put(45, (byte) 0);                                   // preferred PM profile: unspecified
        b.putShort(46, (short) config.sciGsi());
        b.putInt(48, 0);                                       // no SMI command port: always in ACPI mode
        b.putInt(56, pm + AcpiPmDevice.PM1_EVENT_OFFSET);
        b.putInt(64, pm + AcpiPmDevice.PM1_CONTROL_OFFSET);
        b.putInt(76, pm + AcpiPmDevice.PM_TIMER_OFFSET);
        b.put(88, (byte) 4);                                   // PM1_EVT_LEN
        b.put(89, (byte) 2);                                   // PM1_CNT_LEN
        b.put(91, (byte) 4);                                   // PM_TMR_LEN
        if (config.gpe0Base() != 0) {
            b.putInt(80, config.gpe0Base());
            b.put(92, (byte) AcpiPmDevice.GPE0_BLOCK_SIZE);    // GPE0_BLK_LEN
            // ACPICA reads and writes GPE registers a byte at a time.
            gas(b, 220, config.gpe0Base(), 8 * AcpiPmDevice.GPE0_BLOCK_SIZE, 1);
        }
        b.putShort(96, (short) 101);                           // C2 latency > 100: no C2
        b.putShort(98, (short) 1001);                          // C3 latency > 1000: no C3
        b.put(108, (byte) 0x32);                               // CMOS century register
        b.putShort(109, (short) 0x0003);                       // IA-PC boot arch: legacy devices, 8042
        // Flags: WBINVD | PROC_C1 | SLP_BUTTON (no sleep button); power button is a fixed feature.
        b.putInt(112, (1 << 0) | (1 << 2) | (1 << 5));
        b.put(131, (byte) 4);                                  // FADT minor version (6.4)
        b.putLong(132, facsAddress);
        b.putLong(140, dsdtAddress);
        gas(b, 148, pm + AcpiPmDevice.PM1_EVENT_OFFSET, 32, 2);
        gas(b, 172, pm + AcpiPmDevice.PM1_CONTROL_OFFSET, 16, 2);
        gas(b, 208, pm + AcpiPmDevice.PM_TIMER_OFFSET, 32, 3);
        b.put(268, "JVIRTKVM".getBytes(StandardCharsets.US_ASCII));
        return finish(b);
    }

    /** A Generic Address Structure for a System I/O register. */
    private static void gas(ByteBuffer b, int offset, long port, int bitWidth, int accessSize) {
        b.put(offset, (byte) 1);
        b.put(offset + 1, (byte) bitWidth);
        b.put(offset + 2, (byte) 0);
        b.put(offset + 3, (byte) accessSize);
        b.putLong(offset + 4, port);
    }

    static byte[] madt(AcpiConfig config) {
        int length = HEADER_SIZE + 8 + 8 * config.apicIds().size() + 12 + 10 * 2 + 6;
        ByteBuffer b = header("APIC", length, 4);
        b.position(HEADER_SIZE);
        b.putInt((int) AcpiConfig.LOCAL_APIC_ADDRESS);
        b.putInt(1);                                          // PCAT_COMPAT: there are 8259 PICs too
        for (int uid = 0; uid < config.apicIds().size(); uid++) {
            b.put((byte) 0).put((byte) 8).put((byte) uid).put((byte) (int) config.apicIds().get(uid)).putInt(1);
        }
        b.put((byte) 1).put((byte) 12).put((byte) config.ioApicId()).put((byte) 0)
                .putInt((int) config.ioApicAddress()).putInt(0);
        // ISA IRQ 0 (PIT) arrives on IOAPIC pin 2, as on every PC.
        b.put((byte) 2).put((byte) 10).put((byte) 0).put((byte) 0).putInt(2).putShort((short) 0);
        // The SCI is level-triggered, active high.
        b.put((byte) 2).put((byte) 10).put((byte) 0).put((byte) config.sciGsi()).putInt(config.sciGsi()).putShort((short) 0x000D);
        // LINT1 of every processor is NMI.
        b.put((byte) 4).put((byte) 6).put((byte) 0xFF).putShort((short) 0).put((byte) 1);
        return finish(b);
    }

    /** The IOAPIC input PCI slot {@code slot}'s interrupt pin {@code pin} (0 = INTA#) is wired to. */
    public static int pciInterruptGsi(int slot, int pin) {
        return 16 + (slot + pin) % 8;
    }

    /**
     * _PRT: every slot's INTA#-INTD# on IOAPIC inputs 16-23, rotated by slot as on a real board,
     * so INTx-only drivers find their line (virtio prefers MSI-X, which needs no table).
     */
    private static byte[] pciRoutingTable() {
        byte[][] entries = new byte[31 * 4][];
        int i = 0;
        for (int slot = 1; slot < 32; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                entries[i++] = Aml.packageOf(Aml.integer(((long) slot << 16) | 0xFFFF), Aml.integer(pin), Aml.integer(0),
                        Aml.integer(pciInterruptGsi(slot, pin)));
            }
        }
        return Aml.packageOf(entries);
    }

    /** The DSDT name of {@code slot}'s object: S01 .. S1F, as ASL's hex habit has it. */
    static String slotName(int slot) {
        return String.format("S%02X", slot);
    }

    /**
     * What \_SB.PCI0 holds for ACPI PCI hot-plug, as QEMU's pc machine has it: the controller's
     * registers as fields, one device per hot-pluggable slot (Linux's acpiphp takes an object
     * with _ADR and _EJ0 under a host bridge as a slot, named by _SUN), and PCNT, which the
     * GPE handler calls to Notify each slot that gained a device or is asked to give one up.
     */
    private static byte[][] pciHotplug(AcpiConfig config) {
        int base = config.pciHotplugBase();
        List<byte[]> terms = new ArrayList<>();
        int fieldFlags = Aml.ACCESS_DWORD | Aml.UPDATE_WRITE_AS_ZEROS;   // NoLock
        terms.add(Aml.operationRegion("PCST", Aml.SYSTEM_IO, base + PciHotplugController.UP_OFFSET, 8));
        terms.add(Aml.field("PCST", fieldFlags, new Aml.FieldUnit("PCIU", 32), new Aml.FieldUnit("PCID", 32)));
        terms.add(Aml.operationRegion("SEJ", Aml.SYSTEM_IO, base + PciHotplugController.EJECT_OFFSET, 4));
        terms.add(Aml.field("SEJ", fieldFlags, new Aml.FieldUnit("B0EJ", 32)));
        // PCEJ(slot): the guest is done with the slot's device; the machine removes it.
        terms.add(Aml.method("PCEJ", 1, Aml.store(Aml.shiftLeft(Aml.integer(1), Aml.arg(0)), "B0EJ")));
        List<byte[]> notifies = new ArrayList<>();
        for (int slot = 0; slot < 32; slot++) {
            if ((config.hotpluggableSlots() & (1 << slot)) == 0) {
                continue;
            }
            terms.add(Aml.device(slotName(slot),
                    Aml.name("_ADR", Aml.integer((long) slot << 16)),
                    Aml.name("_SUN", Aml.integer(slot)),
                    Aml.method("_EJ0", 1, Aml.call("PCEJ", Aml.reference("_SUN")))));
            notifies.add(Aml.ifThen(Aml.and(Aml.arg(0), Aml.integer(1L << slot)), Aml.notify(slotName(slot), Aml.arg(1))));
        }
        // DVNT(slots, event): Notify every slot whose bit is set with the event.
        terms.add(Aml.method("DVNT", 2, notifies.toArray(byte[][]::new)));
        // PCNT: PCIU clears as it is read, so each event is delivered once; PCID stays until ejected.
        terms.add(Aml.method("PCNT", 0,
                Aml.call("DVNT", Aml.reference("PCIU"), Aml.integer(Aml.NOTIFY_DEVICE_CHECK)),
                Aml.call("DVNT", Aml.reference("PCID"), Aml.integer(Aml.NOTIFY_EJECT_REQUEST))));
        return terms.toArray(byte[][]::new);
    }

    static byte[] dsdt(AcpiConfig config) {
        byte[] pciResources = new ResourceTemplate()
                .busNumbers(0, 0xFF)
                .io(0xCF8, 8)
                .ioRange(0x0000, 0x0CF7)
                .ioRange(0x0D00, 0xFFFF)
                .memoryRange(config.pciMmioStart(), config.pciMmioEnd())
                .toBuffer();
        boolean hotplug = config.pciHotplugBase() != 0;
        byte[] pci0 = Aml.device("PCI0",
                Aml.name("_HID", Aml.eisaId("PNP0A03")),
                Aml.name("_ADR", Aml.integer(0)),
                Aml.name("_UID", Aml.integer(0)),
                Aml.name("_BBN", Aml.integer(0)),
                Aml.name("_CRS", pciResources),
                Aml.name("_PRT", pciRoutingTable()),
                hotplug ? Aml.concat(pciHotplug(config)) : new byte[0]);
        byte[] hotplugTerms = new byte[0];
        if (hotplug) {
            hotplugTerms = Aml.concat(
                    // Motherboard resources: keeps Linux from handing the controller's ports to a PCI BAR.
                    Aml.scope("\\_SB", Aml.device("PHPR",
                            Aml.name("_HID", Aml.eisaId("PNP0C02")),
                            Aml.name("_UID", Aml.string("PCI hot-plug")),
                            Aml.name("_CRS", new ResourceTemplate().io(config.pciHotplugBase(), PciHotplugController.PORT_COUNT).toBuffer()))),
                    Aml.scope("\\_GPE", Aml.method(String.format("_E%02X", PciHotplugController.GPE_EVENT), 0,
                            Aml.call("\\_SB.PCI0.PCNT"))));
        }
        byte[] body = Aml.concat(
                Aml.scope("\\_SB",
                        pci0,
                        Aml.device("COM1",
                                Aml.name("_HID", Aml.eisaId("PNP0501")),
                                Aml.name("_UID", Aml.integer(1)),
                                Aml.name("_CRS", new ResourceTemplate().io(0x3F8, 8).irq(4).toBuffer())),
                        Aml.device("RTC",
                                Aml.name("_HID", Aml.eisaId("PNP0B00")),
                                Aml.name("_CRS", new ResourceTemplate().io(0x70, 2).irq(8).toBuffer())),
                        Aml.device("KBD",
                                Aml.name("_HID", Aml.eisaId("PNP0303")),
                                Aml.name("_CRS", new ResourceTemplate().io(0x60, 1).io(0x64, 1).irq(1).toBuffer()))),
                // \_S5: the SLP_TYP values the guest writes to PM1a/PM1b control to power off.
                Aml.name("\\_S5", Aml.packageOf(Aml.integer(AcpiPmDevice.SLP_TYP_S5), Aml.integer(AcpiPmDevice.SLP_TYP_S5),
                        Aml.integer(0), Aml.integer(0))),
                hotplugTerms);
        ByteBuffer b = header("DSDT", HEADER_SIZE + body.length, 2);
        b.position(HEADER_SIZE);
        b.put(body);
        return finish(b);
    }

    private static ByteBuffer header(String signature, int length, int revision) {
        ByteBuffer b = le(length);
        b.put(signature.getBytes(StandardCharsets.US_ASCII));
        b.putInt(length);
        b.put((byte) revision);
        b.put((byte) 0);                                       // checksum, filled by finish()
        b.put(OEM_ID.getBytes(StandardCharsets.US_ASCII));
        b.put(OEM_TABLE_ID.getBytes(StandardCharsets.US_ASCII));
        b.putInt(1);                                           // OEM revision
        b.put("JVRT".getBytes(StandardCharsets.US_ASCII));      // creator ID
        b.putInt(1);                                           // creator revision
        return b;
    }

    private static byte[] finish(ByteBuffer b) {
        byte[] table = b.array();
        table[9] = checksum(table, 0, table.length);
        return table;
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The byte that makes {@code bytes[from..to)} sum to zero (with the slot itself zero). */
    static byte checksum(byte[] bytes, int from, int to) {
        int sum = 0;
        for (int i = from; i < to; i++) {
            sum += bytes[i];
        }
        return (byte) -sum;
    }
}
