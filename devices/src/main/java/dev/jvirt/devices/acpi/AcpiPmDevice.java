package dev.jvirt.devices.acpi;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.bus.PortIoDevice;

import java.util.function.IntConsumer;

/**
 * The ACPI fixed-hardware power-management registers (ACPI 6.4, 4.8.3): the PM1a event block
 * (status and enable), the PM1a control block, and the 3.579545 MHz PM timer. A guest power-off
 * writes SLP_TYP=S5 with SLP_EN to the control register; the host's power button sets
 * PWRBTN_STS and raises the SCI if the guest enabled it.
 *
 * <p>It also holds the GPE0 block (ACPI 6.4, 4.8.4.1), which the machine maps at its own ports
 * through {@link #gpe0Block()}: 16 general-purpose event status bits (write 1 to clear) and their
 * enables. The SCI is one level-triggered line, asserted while any enabled PM1 or GPE0 event is
 * pending, so both halves decide it under one lock.
 */
public final class AcpiPmDevice implements PortIoDevice {

    public static final int PM1_EVENT_OFFSET = 0;     // PM1_STS (2 bytes), PM1_EN (2 bytes)
    public static final int PM1_CONTROL_OFFSET = 4;   // PM1_CNT (2 bytes)
    public static final int PM_TIMER_OFFSET = 8;      // PM_TMR (4 bytes)
    public static final int REGISTER_BLOCK_SIZE = 12;

    /** GPE0_BLK_LEN: a 2-byte status register followed by a 2-byte enable register. */
    public static final int GPE0_BLOCK_SIZE = 4;
    /** GPE0 events are numbered 0-15; the DSDT's \_GPE._Exx methods name them in hex. */
    public static final int GPE0_EVENTS = 8 * GPE0_BLOCK_SIZE / 2;

    /** The SLP_TYP value our DSDT's \_S5 object names. */
    public static final int SLP_TYP_S5 = 5;

    static final int PWRBTN = 1 << 8;
    private static final int STATUS_WRITABLE = PWRBTN | (1 << 0) | (1 << 15); // PWRBTN, TMR, WAK
    private static final int SCI_EN = 1 << 0;
    private static final int SLP_EN = 1 << 13;
    private static final int SLP_TYP_SHIFT = 10;
    private static final long PM_TIMER_HZ = 3_579_545;

    private final InterruptLine sci;
    private final IntConsumer sleepRequest;
    private final long timerEpoch = System.nanoTime();
    private int status;
    private int enable;
    private int control = SCI_EN;
    private int gpeStatus;
    private int gpeEnable;
    private boolean sciAsserted;
    private final PortIoDevice gpe0Block = new Gpe0Block();

    /**
     * @param sleepRequest called with the requested sleep state (5 for S5, power off) when the guest
     *                     sets SLP_EN; it runs on a vCPU thread
     */
    public AcpiPmDevice(InterruptLine sci, IntConsumer sleepRequest) {
        this.sci = sci;
        this.sleepRequest = sleepRequest;
    }

    @Override
    public synchronized int read(int offset, int size) {
        int value = switch (offset) {
            case 0, 1 -> status;
            case 2, 3 -> enable;
            case 4, 5 -> control;
            case 8, 9, 10, 11 -> timer();
            default -> 0;
        };
        int shift = 8 * (offset & (offset >= 8 ? 3 : 1));
        return value >>> shift;
    }

    @Override
    public void write(int offset, int size, int value) {
        int sleepType = -1;
        synchronized (this) {
            switch (offset) {
                case 0 -> status &= ~(value & STATUS_WRITABLE & (size == 1 ? 0xFF : 0xFFFF)); // write 1 to clear
                case 1 -> status &= ~((value << 8) & STATUS_WRITABLE);
                case 2 -> enable = size == 1 ? (enable & 0xFF00) | (value & 0xFF) : value & 0xFFFF;
                case 3 -> enable = (enable & 0x00FF) | ((value & 0xFF) << 8);
                case 4, 5 -> {
                    int word = offset == 4 ? (size == 1 ? (control & 0xFF00) | (value & 0xFF) : value & 0xFFFF)
                            : (control & 0x00FF) | ((value & 0xFF) << 8);
                    control = (word & ~SLP_EN) | SCI_EN; // SLP_EN is write-only; SCI_EN stays on (no SMI mode)
                    if ((word & SLP_EN) != 0) {
                        sleepType = (word >> SLP_TYP_SHIFT) & 0x7;
                    }
                }
                default -> { } // the timer is read-only
            }
            updateSci();
        }
        if (sleepType == SLP_TYP_S5) {
            sleepRequest.accept(5);
        }
    }

    /**
     * System reset: no event pending or enabled (PM1 and GPE0), sleep type cleared, SCI low. The PM
     * timer runs on (it is free-running hardware; guests only ever take differences).
     */
    public synchronized void reset() {
        status = 0;
        enable = 0;
        control = SCI_EN;
        gpeStatus = 0;
        gpeEnable = 0;
        updateSci();
    }

    /** The host presses the power button (QMP system_powerdown). */
    public synchronized void pressPowerButton() {
        status |= PWRBTN;
        updateSci();
    }

    /**
     * Sets GPE0 status bit {@code event} (a hardware event happened) and raises the SCI if the
     * guest enabled that event; the bit stays set until the guest clears it.
     */
    public synchronized void raiseGpe(int event) {
        if (event < 0 || event >= GPE0_EVENTS) {
            throw new IllegalArgumentException("GPE0 has events 0-" + (GPE0_EVENTS - 1) + ", not " + event);
        }
        gpeStatus |= 1 << event;
        updateSci();
    }

    /** The GPE0 registers, to be registered at the port the FADT's GPE0_BLK names, {@link #GPE0_BLOCK_SIZE} long. */
    public PortIoDevice gpe0Block() {
        return gpe0Block;
    }

    /**
     * GPE0_STS at offsets 0-1, GPE0_EN at 2-3. ACPICA accesses each byte on its own (the FADT's
     * GAS says byte access), but wider accesses are split the same way.
     */
    private final class Gpe0Block implements PortIoDevice {

        @Override
        public int read(int offset, int size) {
            if (offset < 0 || offset >= GPE0_BLOCK_SIZE) {
                return 0;
            }
            synchronized (AcpiPmDevice.this) {
                long registers = (gpeStatus & 0xFFFFL) | ((gpeEnable & 0xFFFFL) << 16);
                return (int) (registers >>> (8 * offset));
            }
        }

        @Override
        public void write(int offset, int size, int value) {
            synchronized (AcpiPmDevice.this) {
                for (int i = 0; i < size && offset >= 0 && offset + i < GPE0_BLOCK_SIZE; i++) {
                    int b = (value >>> (8 * i)) & 0xFF;
                    int at = offset + i;
                    if (at < 2) {
                        gpeStatus &= ~(b << (8 * at));                  // write 1 to clear
                    } else {
                        int shift = 8 * (at - 2);
                        gpeEnable = (gpeEnable & ~(0xFF << shift)) | (b << shift);
                    }
                }
                updateSci();
            }
        }
    }

    private int timer() {
        long ticks = (System.nanoTime() - timerEpoch) * PM_TIMER_HZ / 1_000_000_000L;
        return (int) (ticks & 0xFF_FFFF); // 24-bit timer (FADT TMR_VAL_EXT clear)
    }

    private void updateSci() {
        boolean pending = (status & enable & STATUS_WRITABLE) != 0 || (gpeStatus & gpeEnable) != 0;
        if (pending != sciAsserted) {
            sciAsserted = pending;
            sci.setLevel(pending);
        }
    }
}
