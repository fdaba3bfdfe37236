package dev.jvirt.devices.acpi;

import dev.jvirt.devices.pci.PciHotplugController;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class AcpiTablesTest {

    private static final AcpiConfig CONFIG = new AcpiConfig(List.of(0, 1, 2), 0, 0xFEC0_0000L, 0x600, 9,
            0xC000_0000L, 0xFEBF_FFFFL, 0xE0000, 0xE1000);

    private static final AcpiConfig HOTPLUG = CONFIG.withPciHotplug(0x620, PciHotplugController.BASE,
            PciHotplugController.ALL_SLOTS_BUT_HOST_BRIDGE);

    private static Map<String, AcpiTable> tables() {
        return tables(CONFIG);
    }

    private static Map<String, AcpiTable> tables(AcpiConfig config) {
        return AcpiTables.build(config).stream().collect(Collectors.toMap(AcpiTable::signature, t -> t));
    }

    private static int sum(byte[] bytes, int length) {
        int sum = 0;
        for (int i = 0; i < length; i++) {
            sum += bytes[i];
        }
        return sum & 0xFF;
    }

    @Test
    void everyTableChecksumsToZeroAndPointersAgree() {
        checkChecksumsAndPointers(tables());
    }

    @Test
    void theLargerHotplugTablesStillChecksumAndFitBelowOneMegabyte() {
        checkChecksumsAndPointers(tables(HOTPLUG));
    }

    private static void checkChecksumsAndPointers(Map<String, AcpiTable> tables) {
        AcpiTable rsdp = tables.get("RSD PTR ");
        assertEquals(0xE0000, rsdp.address());
        assertEquals(0, sum(rsdp.bytes(), 20), "RSDP 1.0 checksum");
        assertEquals(0, sum(rsdp.bytes(), 36), "RSDP extended checksum");
        for (String signature : List.of("XSDT", "FACP", "DSDT", "APIC")) {
            AcpiTable table = tables.get(signature);
            assertEquals(0, sum(table.bytes(), table.bytes().length), signature + " checksum");
            assertEquals(table.bytes().length, ByteBuffer.wrap(table.bytes()).order(ByteOrder.LITTLE_ENDIAN).getInt(4), signature + " length");
        }
        ByteBuffer rsdpBytes = ByteBuffer.wrap(rsdp.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(tables.get("XSDT").address(), rsdpBytes.getLong(24));
        ByteBuffer xsdt = ByteBuffer.wrap(tables.get("XSDT").bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(tables.get("FACP").address(), xsdt.getLong(36));
        assertEquals(tables.get("APIC").address(), xsdt.getLong(44));
        ByteBuffer fadt = ByteBuffer.wrap(tables.get("FACP").bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(tables.get("DSDT").address(), fadt.getLong(140));
        assertEquals(tables.get("FACS").address(), fadt.getLong(132));
        assertEquals(0, tables.get("FACS").address() % 64, "FACS is 64-byte aligned");
        long end = 0;
        for (AcpiTable table : tables.values()) {
            if (table.address() != 0xE0000) {
                assertTrue(table.address() >= 0xE1000, "tables start at tablesBase");
                end = Math.max(end, table.address() + table.bytes().length);
            }
        }
        assertTrue(end < 0x100000, "tables stay below 1 MiB");
    }

    @Test
    void iaslDisassemblesTheTablesCleanly(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/iasl")), "iasl (acpica-tools) is not installed; scripts/setup installs it");
        Map<String, AcpiTable> tables = tables();
        String dsdt = disassemble(dir, "dsdt", tables.get("DSDT").bytes());
        assertTrue(dsdt.contains("Device (PCI0)"), dsdt);
        assertTrue(dsdt.contains("EisaId (\"PNP0A03\")"), dsdt);
        assertTrue(dsdt.contains("WordBusNumber"), dsdt);
        assertTrue(dsdt.contains("0xC0000000") && dsdt.contains("0xFEBFFFFF"), "PCI MMIO window: " + dsdt);
        assertTrue(dsdt.contains("EisaId (\"PNP0501\")"), "COM1");
        String flat = dsdt.replaceAll("//[^\n]*", "").replaceAll("\\s+", " ");
        // INTx routing: slot 1 INTA# on GSI 17, slot 31 INTD# on GSI 16+(31+3)%8 = 18.
        assertTrue(flat.contains("Name (_PRT, Package (0x7C)"), dsdt);
        assertTrue(flat.contains("Package (0x04) { 0x0001FFFF, Zero, Zero, 0x11 }"), dsdt);
        assertTrue(flat.contains("Package (0x04) { 0x001FFFFF, 0x03, Zero, 0x12 }"), dsdt);
        assertTrue(dsdt.replaceAll("//[^\n]*", "").replaceAll("\\s+", " ").contains("Name (\\_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })"), dsdt);

        String madt = disassemble(dir, "apic", tables.get("APIC").bytes());
        assertEquals(3, madt.split("Subtable Type : 00 \\[Processor Local APIC\\]", -1).length - 1, madt);
        assertTrue(madt.contains("[I/O APIC]"), madt);
        assertTrue(madt.contains("Interrupt : 00000009"), "SCI override: " + madt);

        String fadt = disassemble(dir, "facp", tables.get("FACP").bytes());
        assertTrue(fadt.contains("PM1A Event Block Address : 00000600"), fadt);
        assertTrue(fadt.contains("PM1A Control Block Address : 00000604"), fadt);
        assertTrue(fadt.contains("PM Timer Block Address : 00000608"), fadt);
        assertTrue(fadt.contains("SCI Interrupt : 0009"), fadt);
    }

    private static String disassemble(Path dir, String name, byte[] table) throws Exception {
        Path file = dir.resolve(name + ".dat");
        Files.write(file, table);
        Process iasl = new ProcessBuilder("iasl", "-d", file.toString()).directory(dir.toFile()).redirectErrorStream(true).start();
        String log = new String(iasl.getInputStream().readAllBytes());
        assertEquals(0, iasl.waitFor(), log);
        assertFalse(log.contains("Error") || log.contains("Invalid"), log);
        return Files.readString(dir.resolve(name + ".dsl")).replaceAll("[ ]+:", " :").replaceAll(" {2,}", " ");
    }

    private static boolean contains(byte[] table, String ascii) {
        return new String(table, StandardCharsets.ISO_8859_1).contains(ascii);
    }

    @Test
    void withoutHotplugThereIsNoGpeBlockNorSlotObjects() {
        Map<String, AcpiTable> tables = tables();
        ByteBuffer fadt = ByteBuffer.wrap(tables.get("FACP").bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0, fadt.getInt(80), "GPE0_BLK");
        assertEquals(0, fadt.get(92), "GPE0_BLK_LEN");
        assertEquals(0, fadt.getLong(224), "X_GPE0_BLK address");
        byte[] dsdt = tables.get("DSDT").bytes();
        for (String name : List.of("PCNT", "PCIU", "S01_", "_E01", "PHPR")) {
            assertFalse(contains(dsdt, name), name + " must only exist with hot-plug");
        }
    }

    @Test
    void hotplugNeedsAGpeBlock() {
        assertThrows(IllegalArgumentException.class, () -> CONFIG.withPciHotplug(0, PciHotplugController.BASE, 2));
        assertThrows(IllegalArgumentException.class, () -> CONFIG.withPciHotplug(0x620, 0, 2));
    }

    @Test
    void iaslDisassemblesTheHotplugTablesAndRecompilesThem(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/iasl")), "iasl (acpica-tools) is not installed; scripts/setup installs it");
        Map<String, AcpiTable> tables = tables(HOTPLUG);
        String fadt = disassemble(dir, "facp", tables.get("FACP").bytes());
        assertTrue(fadt.contains("GPE0 Block Address : 00000620"), fadt);
        assertTrue(fadt.contains("GPE0 Block Length : 04"), fadt);
        String xGpe0 = fadt.substring(fadt.indexOf("GPE0 Block : [Generic Address Structure]"));
        assertTrue(xGpe0.contains("Space ID : 01 [SystemIO]") && xGpe0.contains("Bit Width : 20")
                && xGpe0.contains("Encoded Access Width : 01 [Byte Access:8]") && xGpe0.contains("Address : 0000000000000620"), xGpe0);

        String dsdt = flat(disassemble(dir, "dsdt", tables.get("DSDT").bytes()));
        assertTrue(dsdt.contains("OperationRegion (PCST, SystemIO, 0xAE00, 0x08) Field (PCST, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32 }"), dsdt);
        assertTrue(dsdt.contains("OperationRegion (SEJ, SystemIO, 0xAE08, 0x04) Field (SEJ, DWordAcc, NoLock, WriteAsZeros) { B0EJ, 32 }"), dsdt);
        assertTrue(dsdt.contains("Method (PCEJ, 1, NotSerialized) { B0EJ = (One << Arg0) }"), dsdt);
        assertTrue(dsdt.contains("Device (S01) { Name (_ADR, 0x00010000) Name (_SUN, One) Method (_EJ0, 1, NotSerialized) { PCEJ (_SUN) } }"), dsdt);
        assertTrue(dsdt.contains("Device (S1F) { Name (_ADR, 0x001F0000) Name (_SUN, 0x1F) Method (_EJ0, 1, NotSerialized) { PCEJ (_SUN) } }"), dsdt);
        assertFalse(dsdt.contains("Device (S00)"), "the host bridge's slot is not hot-pluggable");
        assertEquals(31, dsdt.split("Method \\(_EJ0, 1, NotSerialized\\)", -1).length - 1, "one slot object per slot 1-31");
        assertTrue(dsdt.contains("Method (DVNT, 2, NotSerialized) { If ((Arg0 & 0x02)) { Notify (S01, Arg1) } If ((Arg0 & 0x04)) { Notify (S02, Arg1) }"), dsdt);
        assertTrue(dsdt.contains("If ((Arg0 & 0x80000000)) { Notify (S1F, Arg1) } }"), dsdt);
        assertTrue(dsdt.contains("Method (PCNT, 0, NotSerialized) { DVNT (PCIU, One) DVNT (PCID, 0x03) }"), dsdt);
        assertTrue(dsdt.contains("Scope (\\_GPE) { Method (_E01, 0, NotSerialized) { \\_SB.PCI0.PCNT () } }"), dsdt);
        assertTrue(dsdt.contains("Device (PHPR) { Name (_HID, EisaId (\"PNP0C02\"))"), dsdt);
        assertTrue(dsdt.contains("IO (Decode16, 0xAE00, 0xAE00, 0x01, 0x14,)"), "controller ports reserved: " + dsdt);
        assertTrue(dsdt.contains("Name (_PRT, Package (0x7C)") && dsdt.contains("Name (\\_S5, Package (0x04)"), "the rest is still there");

        // What iasl printed must be valid ASL that compiles back to the same program (-oa: no
        // optimizations, which would shorten name paths and change the text without changing the meaning).
        Process iasl = new ProcessBuilder("iasl", "-oa", "-p", "recompiled", "dsdt.dsl").directory(dir.toFile()).redirectErrorStream(true).start();
        String log = new String(iasl.getInputStream().readAllBytes());
        assertEquals(0, iasl.waitFor(), log);
        assertTrue(log.contains("Compilation successful. 0 Errors"), log);
        disassemble(dir, "recompiled", Files.readAllBytes(dir.resolve("recompiled.aml")));
        assertEquals(definitionBlock(dir.resolve("dsdt.dsl")), definitionBlock(dir.resolve("recompiled.dsl")));
    }

    @Test
    void onlyTheMachinesHotpluggableSlotsGetObjects(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/iasl")), "iasl (acpica-tools) is not installed; scripts/setup installs it");
        AcpiConfig config = CONFIG.withPciHotplug(0x620, PciHotplugController.BASE, (1 << 3) | (1 << 5));
        String dsdt = flat(disassemble(dir, "dsdt", tables(config).get("DSDT").bytes()));
        assertTrue(dsdt.contains("Device (S03) { Name (_ADR, 0x00030000) Name (_SUN, 0x03)"), dsdt);
        assertTrue(dsdt.contains("Device (S05) { Name (_ADR, 0x00050000) Name (_SUN, 0x05)"), dsdt);
        assertEquals(2, dsdt.split("Device \\(S", -1).length - 1, dsdt);
        assertTrue(dsdt.contains("Method (DVNT, 2, NotSerialized) { If ((Arg0 & 0x08)) { Notify (S03, Arg1) } If ((Arg0 & 0x20)) { Notify (S05, Arg1) } }"), dsdt);
    }

    /**
     * Runs the DSDT in ACPICA's own interpreter (the one in Linux), whose SystemIO regions are
     * emulated as plain memory: a harness SSDT presets PCIU/PCID and fires _E01, and _EJ0 must
     * leave the slot's bit in B0EJ.
     */
    @Test
    void acpicaRunsTheGpeHandlerAndEjectMethod(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/iasl")) && Files.isExecutable(Path.of("/usr/bin/acpiexec")),
                "acpica-tools (iasl, acpiexec) are not installed");
        Files.write(dir.resolve("dsdt.dat"), tables(HOTPLUG).get("DSDT").bytes());
        Files.writeString(dir.resolve("harness.asl"), """
                DefinitionBlock ("", "SSDT", 2, "JVIRT ", "HARNESS ", 1)
                {
                    External (\\_SB.PCI0.PCIU, FieldUnitObj)
                    External (\\_SB.PCI0.PCID, FieldUnitObj)
                    External (\\_GPE._E01, MethodObj)
                    Method (\\TGPE, 0, NotSerialized)
                    {
                        \\_SB.PCI0.PCIU = 0x24
                        \\_SB.PCI0.PCID = 0x80000000
                        \\_GPE._E01 ()
                    }
                }
                """);
        Process iasl = new ProcessBuilder("iasl", "-p", "harness", "harness.asl").directory(dir.toFile()).redirectErrorStream(true).start();
        String log = new String(iasl.getInputStream().readAllBytes());
        assertEquals(0, iasl.waitFor(), log);

        Process exec = new ProcessBuilder("acpiexec", "-b", "execute \\TGPE; execute \\_SB.PCI0.S05._EJ0 1; execute \\_SB.PCI0.B0EJ",
                "dsdt.dat", "harness.aml").directory(dir.toFile()).redirectErrorStream(true).start();
        exec.getOutputStream().close();
        String out = new String(exec.getInputStream().readAllBytes());
        assertTrue(exec.waitFor(60, TimeUnit.SECONDS), "acpiexec finished");
        assertFalse(out.contains("Exception") || out.contains("AE_"), out);
        List<String> notifies = out.lines().filter(line -> line.contains("Notify on")).map(String::strip).toList();
        // acpiexec delivers notifies from its own threads, so their order varies: check the set.
        assertEquals(3, notifies.size(), out);
        assertTrue(notifies.stream().anyMatch(n -> n.contains("[S02_]") && n.contains("Value 0x01 (Device Check)")), out);
        assertTrue(notifies.stream().anyMatch(n -> n.contains("[S05_]") && n.contains("Value 0x01 (Device Check)")), out);
        assertTrue(notifies.stream().anyMatch(n -> n.contains("[S1F_]") && n.contains("Value 0x03 (Eject Request)")), out);
        assertTrue(out.contains("[Integer] = 0000000000000020"), "S05._EJ0 wrote bit 5 to B0EJ: " + out);
    }

    private static String flat(String asl) {
        return asl.replaceAll("//[^\n]*", "").replaceAll("/\\*.*?\\*/", "").replaceAll("\\s+", " ").replace(" )", ")");
    }

    private static String definitionBlock(Path dsl) throws Exception {
        String text = Files.readString(dsl);
        return text.substring(text.indexOf("DefinitionBlock"));
    }
}
