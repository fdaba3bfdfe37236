package dev.jvirt.devices.rtc;

import dev.jvirt.devices.bus.PortIoDevice;

import java.time.Clock;
import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Objects;

/**
 * The MC146818 CMOS RTC and its 128 bytes of CMOS RAM (index port 0x70, data port 0x71; bit 7
 * of the index, the PC's NMI mask, is ignored). The time is a host {@link Clock} (UTC, as Linux
 * guests expect) plus an offset in seconds that the guest sets by writing the time registers, as
 * QEMU does, so a guest can change its clock without touching the host's.
 *
 * <p>While register B's SET bit is on, the time registers hold what the guest writes and the new
 * time is taken as a whole when SET is cleared, which is how Linux's {@code mc146818_set_time}
 * writes it. Alarm, periodic and update-ended interrupts are not modelled: register C reads 0
 * and nothing drives IRQ 8. Linux does not need them to boot or keep time.
 */
public final class CmosRtc implements PortIoDevice {

    public static final int BASE = 0x70;
    public static final int PORT_COUNT = 2;
    public static final int IRQ = 8;

    public static final int SECONDS = 0x00, MINUTES = 0x02, HOURS = 0x04, WEEKDAY = 0x06;
    public static final int DAY = 0x07, MONTH = 0x08, YEAR = 0x09, CENTURY = 0x32;
    public static final int REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D;

    private static final int A_UPDATE_IN_PROGRESS = 0x80;
    private static final int B_SET = 0x80;
    /** Register B's interrupt enables (periodic, alarm, update-ended) and square-wave output. */
    private static final int B_INTERRUPT_ENABLES = 0x70 | 0x08;
    private static final int B_BINARY = 0x04;
    private static final int B_24_HOUR = 0x02;
    private static final int D_VALID = 0x80;
    private static final int HOUR_PM = 0x80;

    private static final int[] TIME_REGISTERS = {SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY};

    private static final long KIB = 1024, MIB = 1024 * KIB, GIB = 1024 * MIB;

    /** CMOS contents and the guest's clock offset, for snapshots. */
    public record State(int index, byte[] cmos, long offsetSeconds) { }

    private final Clock clock;
    private final byte[] cmos = new byte[128];
    private int index;
    /** Guest time minus host time, in seconds. */
    private long offsetSeconds;

    public CmosRtc(Clock clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
        cmos[REG_A] = 0x26;            // 32.768 kHz time base, 1.024 kHz rate, as firmware leaves it
        cmos[REG_B] = B_24_HOUR;       // BCD, 24-hour, as a PC BIOS leaves it
        cmos[REG_D] = (byte) D_VALID;  // battery good; bit 6 must read 0 or Linux's rtc-cmos gives up
    }

    /** The host's current UTC time. */
    public CmosRtc() {
        this(Clock.systemUTC());
    }

    /** Stores a value in CMOS RAM, for the platform (e.g. equipment or boot bytes). */
    public synchronized void setCmosByte(int register, int value) {
        cmos[register & 0x7F] = (byte) value;
    }

    /**
     * Fills the memory size registers as a PC BIOS does (QEMU's layout): base memory 0x15/0x16,
     * memory above 1 MiB in KiB at 0x17/0x18 and 0x30/0x31, above 16 MiB in 64 KiB units at
     * 0x34/0x35, and above 4 GiB in 64 KiB units at 0x5B-0x5D. Values saturate.
     */
    public synchronized void setMemorySize(long belowFourGiB, long aboveFourGiB) {
        put16(0x15, 640);
        long extendedKib = Math.clamp(belowFourGiB / KIB - 1024, 0, 0xFFFF);
        put16(0x17, (int) extendedKib);
        put16(0x30, (int) extendedKib);
        long above16Mib = Math.clamp((belowFourGiB - 16 * MIB) / (64 * KIB), 0, 0xFFFF);
        put16(0x34, (int) above16Mib);
        long high = Math.clamp(aboveFourGiB / (64 * KIB), 0, 0xFF_FFFF);
        put16(0x5B, (int) high);
        cmos[0x5D] = (byte) (high >> 16);
    }

    @Override
    public synchronized int read(int offset, int size) {
        if ((offset & 1) == 0) {
            return 0xFF; // the index port is write-only
        }
        return switch (index) {
            case SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY ->
                    setting() ? cmos[index] & 0xFF : encodeField(index, guestNow());
            case REG_A -> cmos[REG_A] & ~A_UPDATE_IN_PROGRESS & 0xFF; // never caught mid-update
            case REG_C -> {
                int value = cmos[REG_C] & 0xFF;
                cmos[REG_C] = 0; // interrupt flags clear on read
                yield value;
            }
            default -> cmos[index] & 0xFF;
        };
    }

    @Override
    public synchronized void write(int offset, int size, int value) {
        value &= 0xFF;
        if ((offset & 1) == 0) {
            index = value & 0x7F;
            return;
        }
        switch (index) {
            case SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY -> writeTimeRegister(index, value);
            case REG_A -> cmos[REG_A] = (byte) (value & ~A_UPDATE_IN_PROGRESS);
            case REG_B -> writeRegisterB(value);
            case REG_C, REG_D -> { } // read-only
            default -> cmos[index] = (byte) value;
        }
    }

    /**
     * System reset: the RESET pin clears the interrupt enables and flags (MC146818 data sheet, as
     * QEMU's rtc_reset). CMOS RAM, the index and the guest's clock are battery-backed and stay.
     */
    public synchronized void reset() {
        cmos[REG_B] &= (byte) ~B_INTERRUPT_ENABLES;
        cmos[REG_C] = 0;
    }

    public synchronized State state() {
        return new State(index, cmos.clone(), offsetSeconds);
    }

    public synchronized void restore(State state) {
        if (state.cmos().length != cmos.length) {
            throw new IllegalArgumentException("saved CMOS has " + state.cmos().length + " bytes, not 128");
        }
        System.arraycopy(state.cmos(), 0, cmos, 0, cmos.length);
        index = state.index() & 0x7F;
        offsetSeconds = state.offsetSeconds();
    }

    private boolean setting() {
        return (cmos[REG_B] & B_SET) != 0;
    }

    private void writeRegisterB(int value) {
        boolean wasSetting = setting();
        boolean nowSetting = (value & B_SET) != 0;
        if (nowSetting && !wasSetting) {
            snapshotTime(guestNow()); // the chip stops updating; the guest edits this copy
        }
        cmos[REG_B] = (byte) value;
        if (wasSetting && !nowSetting) {
            commitTime();
        }
    }

    private void writeTimeRegister(int register, int value) {
        if (setting()) {
            cmos[register] = (byte) value;
            return;
        }
        // A running clock takes a single field at once: the other fields keep their current value.
        snapshotTime(guestNow());
        cmos[register] = (byte) value;
        commitTime();
    }

    private void snapshotTime(LocalDateTime time) {
        for (int register : TIME_REGISTERS) {
            cmos[register] = (byte) encodeField(register, time);
        }
    }

    /** Takes the time registers as the guest's new time; an impossible date is ignored, as on QEMU. */
    private void commitTime() {
        try {
            LocalDateTime time = LocalDateTime.of(
                    decode(cmos[CENTURY]) * 100 + decode(cmos[YEAR]), decode(cmos[MONTH]), decode(cmos[DAY]),
                    decodeHours(cmos[HOURS] & 0xFF), decode(cmos[MINUTES]), decode(cmos[SECONDS]));
            offsetSeconds = time.toEpochSecond(ZoneOffset.UTC) - clock.instant().getEpochSecond();
        } catch (DateTimeException e) {
            // Garbage from the guest leaves the clock where it was.
        }
    }

    private LocalDateTime guestNow() {
        long seconds = clock.instant().getEpochSecond() + offsetSeconds;
        try {
            return LocalDateTime.ofEpochSecond(seconds, 0, ZoneOffset.UTC);
        } catch (DateTimeException e) {
            return LocalDateTime.ofEpochSecond(0, 0, ZoneOffset.UTC); // unreachable with 2-digit BCD years
        }
    }

    private int encodeField(int register, LocalDateTime time) {
        int value = switch (register) {
            case SECONDS -> encode(time.getSecond());
            case MINUTES -> encode(time.getMinute());
            case HOURS -> encodeHours(time.getHour());
            case WEEKDAY -> encode(time.getDayOfWeek().getValue() % 7 + 1); // 1 = Sunday
            case DAY -> encode(time.getDayOfMonth());
            case MONTH -> encode(time.getMonthValue());
            case YEAR -> encode(time.getYear() % 100);
            default -> encode(time.getYear() / 100);
        };
        return value & 0xFF; // a binary century past 255 (a guest's choice) wraps, as a byte must
    }

    private int encodeHours(int hour24) {
        if ((cmos[REG_B] & B_24_HOUR) != 0) {
            return encode(hour24);
        }
        int hour12 = hour24 % 12 == 0 ? 12 : hour24 % 12;
        return encode(hour12) | (hour24 >= 12 ? HOUR_PM : 0);
    }

    private int decodeHours(int raw) {
        if ((cmos[REG_B] & B_24_HOUR) != 0) {
            return decode(raw);
        }
        int hour12 = decode(raw & ~HOUR_PM);
        if (hour12 < 1 || hour12 > 12) {
            throw new DateTimeException("hour " + hour12 + " in 12-hour mode");
        }
        return hour12 % 12 + ((raw & HOUR_PM) != 0 ? 12 : 0);
    }

    private int encode(int value) {
        return (cmos[REG_B] & B_BINARY) != 0 ? value : ((value / 10) << 4) | (value % 10);
    }

    private int decode(int raw) {
        raw &= 0xFF;
        if ((cmos[REG_B] & B_BINARY) != 0) {
            return raw;
        }
        int high = raw >> 4, low = raw & 0xF;
        if (high > 9 || low > 9) {
            throw new DateTimeException("not BCD: 0x" + Integer.toHexString(raw));
        }
        return high * 10 + low;
    }

    private void put16(int register, int value) {
        cmos[register] = (byte) value;
        cmos[register + 1] = (byte) (value >> 8);
    }
}
