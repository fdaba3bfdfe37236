package dev.jvirt.devices.serial;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.bus.PortIoDevice;

import java.io.IOException;
import java.io.OutputStream;

/**
 * A 16550A UART (8 registers at e.g. 0x3F8, COM1). Transmitted bytes go straight to an output
 * stream, so the transmitter is always empty again at once; received bytes come from the host
 * through {@link #receive}, into a 16-byte FIFO. Interrupts follow the 16550's priorities and are
 * driven as a level on the IRQ line: asserted while any enabled condition is pending.
 */
public final class Serial16550 implements PortIoDevice {

    public static final int COM1_BASE = 0x3F8;
    public static final int COM1_IRQ = 4;
    public static final int REGISTER_COUNT = 8;

    private static final int DATA = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

    private static final int IER_RX_AVAILABLE = 0x01;
    private static final int IER_THR_EMPTY = 0x02;
    private static final int IER_LINE_STATUS = 0x04;
    private static final int IER_MODEM_STATUS = 0x08;

    private static final int IIR_NONE = 0x01;
    private static final int IIR_MODEM_STATUS = 0x00;
    private static final int IIR_THR_EMPTY = 0x02;
    private static final int IIR_RX_AVAILABLE = 0x04;
    private static final int IIR_LINE_STATUS = 0x06;
    private static final int IIR_FIFO_ENABLED = 0xC0;

    private static final int FCR_FIFO_ENABLE = 0x01;
    private static final int FCR_CLEAR_RX = 0x02;

    private static final int LCR_DLAB = 0x80;

    private static final int MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;

    private static final int LSR_DATA_READY = 0x01;
    private static final int LSR_OVERRUN = 0x02;
    private static final int LSR_THR_EMPTY = 0x20;
    private static final int LSR_TRANSMITTER_EMPTY = 0x40;

    private static final int MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
    /** Outside loopback the "cable" is always connected: carrier, data set ready, clear to send. */
    private static final int MSR_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS;

    private static final int FIFO_SIZE = 16;

    /** Registers as they are saved for snapshots. */
    public record State(int ier, int lcr, int mcr, int lsr, int msr, int scr, int dll, int dlm, int fcr,
                        boolean thrInterruptPending, byte[] rxFifo) { }

    private final InterruptLine irq;
    private final OutputStream output;

    private final byte[] rxFifo = new byte[FIFO_SIZE];
    private int rxHead;
    private int rxCount;

    private int ier;
    private int lcr = 0x03; // 8N1, as firmware leaves it
    private int mcr = MCR_OUT2;
    private int lsr = LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY;
    private int msr = MSR_CONNECTED;
    private int scr;
    private int dll = 0x0C; // 9600 baud
    private int dlm;
    private int fcr;
    /** The THR-empty interrupt is pending until IIR reports it or THR is written (16550 data sheet). */
    private boolean thrInterruptPending;
    private boolean irqAsserted;

    public Serial16550(InterruptLine irq, OutputStream output) {
        this.irq = irq;
        this.output = output;
    }

    @Override
    public synchronized int read(int offset, int size) {
        int value = switch (offset) {
            case DATA -> (lcr & LCR_DLAB) != 0 ? dll : readReceiveBuffer();
            case IER -> (lcr & LCR_DLAB) != 0 ? dlm : ier;
            case IIR_FCR -> readInterruptIdentification();
            case LCR -> lcr;
            case MCR -> mcr;
            case LSR -> readLineStatus();
            case MSR -> readModemStatus();
            case SCR -> scr;
            default -> 0xFF;
        };
        updateInterrupt();
        return value;
    }

    @Override
    public synchronized void write(int offset, int size, int value) {
        value &= 0xFF;
        switch (offset) {
            case DATA -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dll = value;
                } else {
                    transmit(value);
                }
            }
            case IER -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dlm = value;
                } else {
                    boolean thrInterruptEnabled = (value & IER_THR_EMPTY) != 0 && (ier & IER_THR_EMPTY) == 0;
                    ier = value & 0x0F;
                    if (thrInterruptEnabled && (lsr & LSR_THR_EMPTY) != 0) {
                        thrInterruptPending = true; // the edge Linux's THRE test expects
                    }
                }
            }
            case IIR_FCR -> {
                fcr = value & 0xC9;
                if ((value & FCR_CLEAR_RX) != 0 || (value & FCR_FIFO_ENABLE) == 0) {
                    rxHead = 0;
                    rxCount = 0;
                    lsr &= ~LSR_DATA_READY;
                }
            }
            case LCR -> lcr = value;
            case MCR -> writeModemControl(value);
            case LSR, MSR -> { } // read-only on real hardware; writes are ignored
            case SCR -> scr = value;
            default -> { }
        }
        updateInterrupt();
    }

    /**
     * Host input for the guest: queues what fits in the receive FIFO and returns how many bytes
     * were taken. Callers that must not lose input wait with {@link #awaitRoom}.
     */
    public synchronized int receive(byte[] data, int offset, int length) {
        int taken = 0;
        if ((mcr & MCR_LOOP) != 0) {
            return 0; // in loopback the receiver is disconnected from the outside
        }
        while (taken < length && rxCount < FIFO_SIZE) {
            rxFifo[(rxHead + rxCount) % FIFO_SIZE] = data[offset + taken];
            rxCount++;
            taken++;
        }
        if (taken > 0) {
            lsr |= LSR_DATA_READY;
            updateInterrupt();
        }
        return taken;
    }

    /** Blocks until the receive FIFO has room for at least one byte. */
    public synchronized void awaitRoom() throws InterruptedException {
        while (rxCount >= FIFO_SIZE || (mcr & MCR_LOOP) != 0) {
            wait(100);
        }
    }

    public synchronized State state() {
        byte[] fifo = new byte[rxCount];
        for (int i = 0; i < rxCount; i++) {
            fifo[i] = rxFifo[(rxHead + i) % FIFO_SIZE];
        }
        return new State(ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr, thrInterruptPending, fifo);
    }

    private int readReceiveBuffer() {
        if (rxCount == 0) {
            return 0;
        }
        int value = rxFifo[rxHead] & 0xFF;
        rxHead = (rxHead + 1) % FIFO_SIZE;
        rxCount--;
        if (rxCount == 0) {
            lsr &= ~LSR_DATA_READY;
        }
        notifyAll(); // room for the host input thread
        return value;
    }

    private int readInterruptIdentification() {
        int id = pendingInterrupt();
        if (id == IIR_THR_EMPTY) {
            thrInterruptPending = false; // reading IIR acknowledges a THR-empty interrupt
        }
        return id | ((fcr & FCR_FIFO_ENABLE) != 0 ? IIR_FIFO_ENABLED : 0);
    }

    private int readLineStatus() {
        int value = lsr;
        lsr &= ~LSR_OVERRUN; // error bits clear on read
        return value;
    }

    private int readModemStatus() {
        int value = msr;
        msr &= 0xF0; // delta bits clear on read
        return value;
    }

    private void transmit(int value) {
        thrInterruptPending = false;
        if ((mcr & MCR_LOOP) != 0) {
            if (rxCount < FIFO_SIZE) {
                rxFifo[(rxHead + rxCount) % FIFO_SIZE] = (byte) value;
                rxCount++;
                lsr |= LSR_DATA_READY;
            } else {
                lsr |= LSR_OVERRUN;
            }
        } else {
            try {
                output.write(value);
            } catch (IOException e) {
                // the console went away; the guest must not notice
            }
        }
        // Sending is instantaneous, so the holding register is empty again at once.
        thrInterruptPending = true;
    }

    private void writeModemControl(int value) {
        int old = mcr;
        mcr = value & 0x1F;
        if ((mcr & MCR_LOOP) != 0) {
            // Loopback wires the outputs back to the inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
            int lines = ((mcr & MCR_RTS) != 0 ? MSR_CTS : 0) | ((mcr & MCR_DTR) != 0 ? MSR_DSR : 0)
                    | ((mcr & MCR_OUT1) != 0 ? MSR_RI : 0) | ((mcr & MCR_OUT2) != 0 ? MSR_DCD : 0);
            setModemLines(lines);
        } else if ((old & MCR_LOOP) != 0) {
            setModemLines(MSR_CONNECTED);
        }
    }

    private void setModemLines(int lines) {
        int changed = (msr ^ lines) & 0xF0;
        int delta = ((changed & MSR_CTS) != 0 ? 0x01 : 0) | ((changed & MSR_DSR) != 0 ? 0x02 : 0)
                | ((msr & MSR_RI) != 0 && (lines & MSR_RI) == 0 ? 0x04 : 0) | ((changed & MSR_DCD) != 0 ? 0x08 : 0);
        msr = lines | (msr & 0x0F) | delta;
    }

    private int pendingInterrupt() {
        if ((ier & IER_LINE_STATUS) != 0 && (lsr & LSR_OVERRUN) != 0) {
            return IIR_LINE_STATUS;
        }
        if ((ier & IER_RX_AVAILABLE) != 0 && (lsr & LSR_DATA_READY) != 0) {
            return IIR_RX_AVAILABLE;
        }
        if ((ier & IER_THR_EMPTY) != 0 && thrInterruptPending) {
            return IIR_THR_EMPTY;
        }
        if ((ier & IER_MODEM_STATUS) != 0 && (msr & 0x0F) != 0) {
            return IIR_MODEM_STATUS;
        }
        return IIR_NONE;
    }

    private void updateInterrupt() {
        boolean pending = pendingInterrupt() != IIR_NONE;
        if (pending != irqAsserted) {
            irqAsserted = pending;
            irq.setLevel(pending);
        }
    }
}
