package dev.jvirt.devices.acpi;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class AcpiTablesTest {

    private static final AcpiConfig CONFIG = new AcpiConfig(List.of(0, 1, 2), 0, 0xFEC0_0000L, 0x600, 9,
            0xC000_0000L, 0xFEBF_FFFFL, 0xE0000, 0xE1000);

    private static Map<String, AcpiTable> tables() {
        return AcpiTables.build(CONFIG).stream().collect(Collectors.toMap(AcpiTable::signature, t -> t));
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
        Map<String, AcpiTable> tables = tables();
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
}
