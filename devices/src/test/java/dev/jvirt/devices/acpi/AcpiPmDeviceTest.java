package dev.jvirt.devices.acpi;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
}
