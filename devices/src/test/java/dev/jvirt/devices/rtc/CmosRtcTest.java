package dev.jvirt.devices.rtc;

import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CmosRtcTest {

    /** A host clock the test moves by hand. */
    private static final class HostClock extends Clock {
        Instant now;

        HostClock(String instant) {
            now = Instant.parse(instant);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    private final HostClock host = new HostClock("2026-11-22T13:04:59Z");
    private final CmosRtc rtc = new CmosRtc(host);

    private int reg(int index) {
        rtc.write(0, 1, index);
        return rtc.read(1, 1);
    }

    private void set(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    private static int bcd(int value) {
        return (value >> 4) * 10 + (value & 0xF);
    }

    /** What Linux's mc146818_get_time() makes of the registers (24-hour mode). */
    private LocalDateTime linuxReadsTime() {
        int control = reg(0x0B);
        int[] raw = {reg(0x00), reg(0x02), reg(0x04), reg(0x07), reg(0x08), reg(0x09), reg(0x32)};
        int[] v = new int[raw.length];
        for (int i = 0; i < raw.length; i++) {
            v[i] = (control & 0x04) != 0 ? raw[i] : bcd(raw[i]);
        }
        return LocalDateTime.of(v[6] * 100 + v[5], v[4], v[3], v[2], v[1], v[0]);
    }

    /** mc146818_set_time(): SET, divider reset, year..seconds, century, then restore B and A. */
    private void linuxSetsTime(LocalDateTime time) {
        int control = reg(0x0B);
        set(0x0B, control | 0x80);
        int freq = reg(0x0A);
        set(0x0A, freq | 0x70);
        boolean binary = (control & 0x04) != 0;
        int[] fields = {0x09, time.getYear() % 100, 0x08, time.getMonthValue(), 0x07, time.getDayOfMonth(),
            0x04, time.getHour(), 0x02, time.getMinute(), 0x00, time.getSecond(), 0x32, time.getYear() / 100};
        for (int i = 0; i < fields.length; i += 2) {
            int value = fields[i + 1];
            set(fields[i], binary ? value : (value / 10) << 4 | value % 10);
        }
        set(0x0B, control);
        set(0x0A, freq);
    }

    @Test
    void firmwareDefaultsDecodeToTheHostDateInBcd() {
        assertEquals(0x02, reg(0x0B), "24-hour BCD, as a PC BIOS leaves it");
        assertEquals(0x59, reg(0x00), "raw BCD seconds");
        assertEquals(LocalDateTime.of(2026, 11, 22, 13, 4, 59), linuxReadsTime());
        assertEquals(0x01, reg(0x06), "22 Nov 2026 is a Sunday");
        assertEquals(0x80, reg(0x0D), "valid RAM and time; bit 6 clear");
        assertEquals(0, reg(0x0A) & 0x80, "never mid-update");
        assertEquals(0, reg(0x0C));
    }

    @Test
    void binaryModeDecodesToTheSameDate() {
        set(0x0B, 0x06);
        assertEquals(59, reg(0x00), "raw binary seconds");
        assertEquals(26, reg(0x09));
        assertEquals(LocalDateTime.of(2026, 11, 22, 13, 4, 59), linuxReadsTime());
    }

    @Test
    void twelveHourModeMarksAfternoonAndMidnightAsTwelve() {
        set(0x0B, 0x00); // BCD, 12-hour
        assertEquals(0x80 | 0x01, reg(0x04), "1 PM");
        set(0x0B, 0x04); // binary, 12-hour
        assertEquals(0x80 | 1, reg(0x04));
        host.now = Instant.parse("2026-11-22T00:30:00Z");
        assertEquals(12, reg(0x04), "12 AM");
        host.now = Instant.parse("2026-11-22T12:30:00Z");
        assertEquals(0x80 | 12, reg(0x04), "12 PM");
    }

    @Test
    void guestSetsItsClockAndItKeepsRunningWithTheHost() {
        LocalDateTime wanted = LocalDateTime.of(2031, 1, 31, 23, 59, 30);
        linuxSetsTime(wanted);
        assertEquals(wanted, linuxReadsTime());
        host.now = host.now.plusSeconds(45);
        assertEquals(wanted.plusSeconds(45), linuxReadsTime(), "an offset, not a frozen time");
        assertEquals(Instant.parse("2026-11-22T13:05:44Z"), host.instant(), "the host clock is untouched");
    }

    @Test
    void theNewTimeIsTakenWholeWhenSetClears() {
        host.now = Instant.parse("2026-01-31T10:00:00Z");
        LocalDateTime wanted = LocalDateTime.of(2026, 2, 28, 8, 0, 0);
        set(0x0B, 0x82);
        set(0x08, 0x02); // Feb 31 for a moment: only the whole date counts
        assertEquals(0x02, reg(0x08), "while SET, registers hold what the guest wrote");
        set(0x07, 0x28);
        set(0x04, 0x08);
        set(0x02, 0x00);
        set(0x00, 0x00);
        set(0x0B, 0x02);
        assertEquals(wanted, linuxReadsTime());
    }

    @Test
    void aSingleFieldWrittenWhileRunningMovesOnlyThatField() {
        set(0x02, 0x30);
        assertEquals(LocalDateTime.of(2026, 11, 22, 13, 30, 59), linuxReadsTime());
    }

    @Test
    void impossibleTimesAreIgnored() {
        LocalDateTime before = linuxReadsTime();
        set(0x0B, 0x82);
        set(0x08, 0x13); // month 13
        set(0x0B, 0x02);
        assertEquals(before, linuxReadsTime());
        set(0x00, 0x5A); // not BCD
        assertEquals(before, linuxReadsTime());
        set(0x0B, 0x00); // 12-hour: hour 0 does not exist
        set(0x04, 0x00);
        set(0x0B, 0x02);
        assertEquals(before, linuxReadsTime());
    }

    @Test
    void cmosRamKeepsBytesAndStatusRegistersStayReadOnly() {
        set(0x80 | 0x40, 0x5A); // NMI-disable bit on the index
        assertEquals(0x5A, reg(0x40));
        set(0x7F, 0xA5);
        assertEquals(0xA5, reg(0x7F));
        set(0x0D, 0x00);
        assertEquals(0x80, reg(0x0D));
        set(0x0A, 0xFF);
        assertEquals(0x7F, reg(0x0A), "UIP is not writable");
        assertEquals(0xFF, rtc.read(0, 1), "the index port is write-only");
    }

    @Test
    void memorySizeRegistersFollowTheBiosLayout() {
        rtc.setMemorySize(512L << 20, 1L << 30);
        assertEquals(640, reg(0x15) | reg(0x16) << 8);
        assertEquals(0xFFFF, reg(0x30) | reg(0x31) << 8, "saturates at 64 MiB");
        assertEquals((512 - 16) * 16, reg(0x34) | reg(0x35) << 8, "64 KiB units above 16 MiB");
        assertEquals(16384, reg(0x5B) | reg(0x5C) << 8 | reg(0x5D) << 16, "64 KiB units above 4 GiB");
    }

    @Test
    void stateCarriesTheGuestOffsetAndRam() {
        linuxSetsTime(LocalDateTime.of(2030, 6, 1, 0, 0, 0));
        set(0x50, 0x77);
        CmosRtc copy = new CmosRtc(host);
        copy.restore(rtc.state());
        copy.write(0, 1, 0x50);
        assertEquals(0x77, copy.read(1, 1));
        copy.write(0, 1, 0x09);
        assertEquals(0x30, copy.read(1, 1), "year 2030 in BCD");
    }

    @Test
    void hostileValuesNeitherThrowNorEscapeAByte() {
        for (int index = 0; index < 256; index++) {
            for (int size : new int[] {1, 2, 4, 0, -1}) {
                rtc.write(0, size, index);
                rtc.write(1, size, 0xFFFFFFFF);
                rtc.read(1, size);
            }
        }
        rtc.write(7, 1, 0x0B); // an offset outside 0-1 acts on its port's parity
        rtc.write(-3, 1, 0x06);
        set(0x0B, 0x06);
        set(0x32, 0xFF); // binary century 255: a year far away, still encodable
        for (int index = 0; index < 128; index++) {
            int value = reg(index);
            assertTrue(value >= 0 && value <= 0xFF, "register 0x%x reads 0x%x".formatted(index, value));
        }
        host.now = host.now.plus(Duration.ofDays(400));
        assertTrue(reg(0x09) <= 0xFF);
    }

    @Test
    void resetClearsInterruptEnablesButKeepsCmosRamAndTheGuestClock() {
        set(0x0B, 0x80 | 0x02);                        // SET: Linux's mc146818_set_time
        set(0x09, 0x30);                               // year 2030
        set(0x0B, 0x02 | 0x40 | 0x20 | 0x10 | 0x08);   // run, with PIE, AIE, UIE, SQWE on
        set(0x40, 0x77);                               // an OS's byte in CMOS RAM

        rtc.reset();

        assertEquals(0x02, reg(0x0B), "interrupt enables clear, 24-hour BCD mode stays");
        assertEquals(0, reg(0x0C));
        assertEquals(0x77, reg(0x40), "CMOS RAM is battery-backed");
        assertEquals(0x30, reg(0x09), "the guest's clock is battery-backed too");
    }
}
