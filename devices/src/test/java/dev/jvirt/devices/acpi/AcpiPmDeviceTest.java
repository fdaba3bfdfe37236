package dev.jvirt.devices.acpi;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AcpiPmDeviceTest {

    private final List<Boolean> sci = new ArrayList<>();
    private final List<Integer> sleeps = new ArrayList<>();
    private final AcpiPmDevice pm = new AcpiPmDevice(sci::add, sleeps::add);

    @Test
    void powerButtonRaisesSciOnlyWhenEnabledAndStatusIsWriteOneToClear() {
        pm.pressPowerButton();
        assertTrue(sci.isEmpty(), "no SCI while PWRBTN_EN is clear");
        assertEquals(AcpiPmDevice.PWRBTN, pm.read(0, 2) & AcpiPmDevice.PWRBTN);
        pm.write(2, 2, AcpiPmDevice.PWRBTN);
        assertEquals(List.of(true), sci, "enabling a pending event raises the SCI");
        pm.write(0, 2, 0x0001);
        assertEquals(AcpiPmDevice.PWRBTN, pm.read(0, 2) & AcpiPmDevice.PWRBTN, "writing 0 to the bit keeps it");
        pm.write(0, 2, AcpiPmDevice.PWRBTN);
        assertEquals(0, pm.read(0, 2));
        assertEquals(List.of(true, false), sci, "clearing the status drops the SCI");
    }

    @Test
    void onlySlpEnWithTheS5TypeRequestsPowerOff() {
        pm.write(4, 2, 5 << 10);                        // type without SLP_EN: nothing
        pm.write(4, 2, (1 << 10) | (1 << 13));          // S1 with SLP_EN: not supported, ignored
        assertTrue(sleeps.isEmpty());
        pm.write(4, 2, (5 << 10) | (1 << 13));
        assertEquals(List.of(5), sleeps);
        assertEquals(1, pm.read(4, 2) & 1, "SCI_EN reads as set: the platform is always in ACPI mode");
    }

    @Test
    void timerAdvancesAndGarbageIsHarmless() throws InterruptedException {
        int first = pm.read(8, 4);
        Thread.sleep(5);
        int second = pm.read(8, 4);
        assertTrue(((second - first) & 0xFFFFFF) > 3_000, "3.58 MHz timer advanced at least 1 ms");
        for (int offset = 0; offset < AcpiPmDevice.REGISTER_BLOCK_SIZE; offset++) {
            pm.write(offset, 4, 0xFFFFFFFF & ~(1 << 13));
            pm.read(offset, 1);
        }
        assertTrue(sleeps.isEmpty());
    }

    // ACPICA's view of GPE0: status bytes at offsets 0-1, enable bytes at 2-3, one byte at a time.
    private int gpeStatusByte(int index) {
        return pm.gpe0Block().read(index, 1) & 0xFF;
    }

    @Test
    void gpeRaisesSciOnlyWhileEnabledAndStatusIsWriteOneToClear() {
        pm.raiseGpe(1);
        assertTrue(sci.isEmpty(), "no SCI while GPE 1 is disabled");
        assertEquals(0x02, gpeStatusByte(0), "status latched even while disabled");
        pm.gpe0Block().write(2, 1, 0x02);
        assertEquals(List.of(true), sci, "enabling a pending GPE raises the SCI");
        assertEquals(0x02, pm.gpe0Block().read(2, 1) & 0xFF, "enable reads back");
        pm.gpe0Block().write(0, 1, 0x01);
        assertEquals(0x02, gpeStatusByte(0), "writing 1 to another bit leaves GPE 1 set");
        pm.gpe0Block().write(0, 1, 0x02);
        assertEquals(0, gpeStatusByte(0));
        assertEquals(List.of(true, false), sci, "clearing the status drops the SCI");
        pm.raiseGpe(1);
        assertEquals(List.of(true, false, true), sci, "a new event with the GPE still enabled raises it again");
        pm.gpe0Block().write(2, 1, 0x00);
        assertEquals(List.of(true, false, true, false), sci, "disabling the GPE drops the SCI, status stays");
        assertEquals(0x02, gpeStatusByte(0));
    }

    @Test
    void highGpesLiveInTheSecondByteAndWordAccessesSpanBoth() {
        pm.raiseGpe(9);
        assertEquals(0, gpeStatusByte(0));
        assertEquals(0x02, gpeStatusByte(1));
        pm.gpe0Block().write(3, 1, 0x02);
        assertEquals(List.of(true), sci);
        assertEquals(0x0200, pm.gpe0Block().read(2, 2) & 0xFFFF);
        pm.raiseGpe(0);
        assertEquals(0x0201, pm.gpe0Block().read(0, 2) & 0xFFFF);
        pm.gpe0Block().write(0, 2, 0x0201);
        assertEquals(0, pm.gpe0Block().read(0, 2) & 0xFFFF, "a word write clears both bytes");
        assertEquals(List.of(true, false), sci);
        assertThrows(IllegalArgumentException.class, () -> pm.raiseGpe(16));
        assertThrows(IllegalArgumentException.class, () -> pm.raiseGpe(-1));
    }

    @Test
    void pm1AndGpeShareTheOneSciLine() {
        pm.write(2, 2, AcpiPmDevice.PWRBTN);
        pm.gpe0Block().write(2, 1, 0x02);
        pm.pressPowerButton();
        pm.raiseGpe(1);
        assertEquals(List.of(true), sci, "one level line, asserted once");
        pm.write(0, 2, AcpiPmDevice.PWRBTN);
        assertEquals(List.of(true), sci, "the GPE still holds the SCI after PM1 is cleared");
        pm.pressPowerButton();
        pm.gpe0Block().write(0, 1, 0x02);
        assertEquals(List.of(true), sci, "PM1 still holds it after the GPE is cleared");
        pm.write(0, 2, AcpiPmDevice.PWRBTN);
        assertEquals(List.of(true, false), sci, "dropped only when neither wants it");
    }

    @Test
    void garbageGpeAccessesAreHarmless() {
        for (int offset = -1; offset <= AcpiPmDevice.GPE0_BLOCK_SIZE; offset++) {
            for (int size : new int[] {1, 2, 4, 3}) {
                pm.gpe0Block().write(offset, size, 0xFFFFFFFF);
                pm.gpe0Block().read(offset, size);
            }
        }
        assertEquals(0xFFFF, pm.gpe0Block().read(2, 2) & 0xFFFF, "all enables set by the writes");
        assertTrue(sci.isEmpty(), "no status was ever set");
        assertEquals(0, pm.read(0, 2), "PM1 untouched");
    }

    @Test
    void resetClearsEventsEnablesAndTheSci() {
        pm.write(2, 2, AcpiPmDevice.PWRBTN);
        pm.pressPowerButton();
        pm.gpe0Block().write(2, 1, 0x02);
        pm.raiseGpe(1);
        pm.write(4, 2, 3 << 10);                       // a sleep type without SLP_EN
        assertEquals(true, sci.get(sci.size() - 1));

        pm.reset();

        assertEquals(false, sci.get(sci.size() - 1), "the SCI dropped");
        assertEquals(0, pm.read(0, 2), "PM1_STS");
        assertEquals(0, pm.read(2, 2), "PM1_EN");
        assertEquals(1, pm.read(4, 2), "PM1_CNT: only SCI_EN, as at power-on");
        assertEquals(0, pm.gpe0Block().read(0, 4), "GPE0 status and enables");
        assertTrue(sleeps.isEmpty());
    }
}
