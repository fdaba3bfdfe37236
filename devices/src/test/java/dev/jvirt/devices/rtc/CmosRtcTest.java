package dev.jvirt.devices.rtc;

import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;

import static org.junit.jupiter.api.Assertions.assertEquals;

class CmosRtcTest {

    private final CmosRtc rtc = new CmosRtc(Clock.fixed(Instant.parse("2026-11-22T13:04:59Z"), ZoneOffset.UTC));

    private int reg(int index) {
        rtc.write(0, 1, index);
        return rtc.read(1, 1);
    }

    private void set(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    @Test
    void timeReadsInBcdAsFirmwareLeavesIt() {
        assertEquals(0x59, reg(0x00));
        assertEquals(0x04, reg(0x02));
        assertEquals(0x13, reg(0x04));
        assertEquals(0x22, reg(0x07));
        assertEquals(0x11, reg(0x08));
        assertEquals(0x26, reg(0x09));
        assertEquals(0x20, reg(0x32));
        assertEquals(0x01, reg(0x06), "Sunday");
        assertEquals(0x80, reg(0x0D) & 0x80, "valid RAM and time");
        assertEquals(0, reg(0x0A) & 0x80, "never mid-update");
    }

    @Test
    void binaryAndTwelveHourModesFollowRegisterB() {
        set(0x0B, 0x04); // binary, 12-hour
        assertEquals(59, reg(0x00));
        assertEquals(0x80 | 1, reg(0x04), "1 PM");
    }

    @Test
    void guestSetsItsOwnTimeWithoutTouchingTheHost() {
        set(0x0B, 0x82); // SET, BCD, 24h
        set(0x09, 0x30);
        set(0x04, 0x08);
        set(0x0B, 0x02);
        assertEquals(0x30, reg(0x09));
        assertEquals(0x08, reg(0x04));
        assertEquals(0x04, reg(0x02), "untouched fields keep running from the host clock");
        set(0x08, 0x13); // month 13 in BCD: impossible, ignored
        assertEquals(0x11, reg(0x08));
    }

    @Test
    void cmosRamKeepsOtherBytesAndIgnoresTheNmiBit() {
        set(0x80 | 0x40, 0x5A);
        assertEquals(0x5A, reg(0x40));
    }
}
