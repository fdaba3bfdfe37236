package dev.jvirt.devices.rtc;

import dev.jvirt.devices.bus.PortIoDevice;

import java.time.Clock;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;

/**
 * The MC146818 CMOS RTC and its 128 bytes of CMOS RAM (index port 0x70, data port 0x71). Time is
 * read from a host {@link Clock} (UTC, as Linux guests expect) plus an offset that the guest sets
 * by writing the time registers, so a guest can change its clock without touching the host's.
 * Alarms and periodic interrupts are not modelled: Linux does not need them to boot or keep time.
 */
public final class CmosRtc implements PortIoDevice {

    public static final int BASE = 0x70;
    public static final int IRQ = 8;

    private static final int SECONDS = 0x00, MINUTES = 0x02, HOURS = 0x04, WEEKDAY = 0x06;
    private static final int DAY = 0x07, MONTH = 0x08, YEAR = 0x09, CENTURY = 0x32;
    private static final int REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D;

    private static final int B_SET = 0x80;
    private static final int B_BINARY = 0x04;
    private static final int B_24_HOUR = 0x02;
    private static final int D_VALID = 0x80;

    private final Clock clock;
    private final byte[] cmos = new byte[128];
    private int index;
    /** Guest time minus host time. */
    private Duration guestOffset = Duration.ZERO;
    /** While register B's SET bit is on, the guest is writing a new time; these hold it. */
    private LocalDateTime pendingTime;

    public CmosRtc(Clock clock) {
        this.clock = clock;
        cmos[REG_A] = 0x26;            // 32.768 kHz time base, 1.024 kHz rate, as firmware leaves it
        cmos[REG_B] = B_24_HOUR;       // BCD, 24-hour
        cmos[REG_D] = (byte) D_VALID;  // battery good
    }

    public CmosRtc() {
        this(Clock.systemUTC());
    }

    /** Stores a value in CMOS RAM, for the platform (e.g. memory size registers). */
    public synchronized void setCmosByte(int register, int value) {
        cmos[register & 0x7F] = (byte) value;
    }

    @Override
    public synchronized int read(int offset, int size) {
        if (offset == 0) {
            return index;
        }
        return switch (index) {
            case SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY -> timeRegister(index);
            case REG_A -> cmos[REG_A] & 0x7F; // UIP clear: an update is never in progress when read
            case REG_C -> {
                int value = cmos[REG_C] & 0xFF;
                cmos[REG_C] = 0;               // interrupt flags clear on read
                yield value;
            }
            default -> cmos[index] & 0xFF;
        };
    }

    @Override
    public synchronized void write(int offset, int size, int value) {
        value &= 0xFF;
        if (offset == 0) {
            index = value & 0x7F; // bit 7 masks NMI on a PC; there is nothing to mask here
            return;
        }
        switch (index) {
            case SECONDS, MINUTES, HOURS, DAY, MONTH, YEAR, CENTURY -> writeTimeRegister(index, value);
            case WEEKDAY -> { } // derived from the date
            case REG_B -> {
                boolean wasSetting = (cmos[REG_B] & B_SET) != 0;
                cmos[REG_B] = (byte) value;
                if ((value & B_SET) != 0 && !wasSetting) {
                    pendingTime = now();
                } else if ((value & B_SET) == 0 && wasSetting && pendingTime != null) {
                    guestOffset = Duration.between(LocalDateTime.now(clock.withZone(ZoneOffset.UTC)), pendingTime);
                    pendingTime = null;
                }
            }
            case REG_C, REG_D -> { } // read-only
            default -> cmos[index] = (byte) value;
        }
    }

    private LocalDateTime now() {
        return pendingTime != null ? pendingTime : LocalDateTime.now(clock.withZone(ZoneOffset.UTC)).plus(guestOffset);
    }

    private int timeRegister(int register) {
        LocalDateTime time = now();
        int value = switch (register) {
            case SECONDS -> time.getSecond();
            case MINUTES -> time.getMinute();
            case HOURS -> hours(time.getHour());
            case WEEKDAY -> time.getDayOfWeek().getValue() % 7 + 1; // 1 = Sunday
            case DAY -> time.getDayOfMonth();
            case MONTH -> time.getMonthValue();
            case YEAR -> time.getYear() % 100;
            default -> time.getYear() / 100;
        };
        if (register == HOURS) {
            return value;
        }
        return encode(value);
    }

    private int hours(int hour24) {
        if ((cmos[REG_B] & B_24_HOUR) != 0) {
            return encode(hour24);
        }
        int hour12 = hour24 % 12 == 0 ? 12 : hour24 % 12;
        return encode(hour12) | (hour24 >= 12 ? 0x80 : 0);
    }

    private void writeTimeRegister(int register, int raw) {
        LocalDateTime base = now();
        try {
            int value = register == HOURS ? decodeHours(raw) : decode(raw);
            LocalDateTime updated = switch (register) {
                case SECONDS -> base.withSecond(value);
                case MINUTES -> base.withMinute(value);
                case HOURS -> base.withHour(value);
                case DAY -> base.withDayOfMonth(value);
                case MONTH -> base.withMonth(value);
                case YEAR -> base.withYear(base.getYear() / 100 * 100 + value);
                default -> base.withYear(value * 100 + base.getYear() % 100);
            };
            if (pendingTime != null) {
                pendingTime = updated;
            } else {
                guestOffset = guestOffset.plus(Duration.between(base, updated));
            }
        } catch (java.time.DateTimeException e) {
            // An impossible date from the guest: ignored, as the chip would hold garbage.
        }
    }

    private int encode(int value) {
        return (cmos[REG_B] & B_BINARY) != 0 ? value : ((value / 10) << 4) | (value % 10);
    }

    private int decode(int raw) {
        return (cmos[REG_B] & B_BINARY) != 0 ? raw : ((raw >> 4) & 0xF) * 10 + (raw & 0xF);
    }

    private int decodeHours(int raw) {
        if ((cmos[REG_B] & B_24_HOUR) != 0) {
            return decode(raw);
        }
        int hour12 = decode(raw & 0x7F) % 12;
        return (raw & 0x80) != 0 ? hour12 + 12 : hour12;
    }
}
