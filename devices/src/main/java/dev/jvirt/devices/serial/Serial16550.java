package dev.jvirt.devices.serial;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.bus.PortIoDevice;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Objects;

/**
 * A 16550A UART (8 registers at e.g. 0x3F8, COM1, IRQ 4).
 *
 * <p>Transmitted bytes go straight to an output stream, flushed byte by byte so an interactive
 * console shows a prompt at once; the transmitter is therefore always empty again immediately.
 * Received bytes come from a host thread through {@link #enqueueInput} into a 64-byte FIFO
 * (one byte while the guest keeps the FIFOs off, as on the chip); a feeder that must not lose
 * bytes waits with {@link #awaitRoom} or uses {@link #enqueueInputFully}.
 *
 * <p>The interrupt output is a level: asserted while an enabled condition is pending, MCR.OUT2
 * is set and loopback is off. PCs gate the UART's IRQ with OUT2 (Linux sets it when it requests
 * the IRQ and clears it on close), and loopback forces OUT2 inactive. Because the machine routes
 * the line to an edge-triggered ISA IRQ, it drops whenever nothing is pending, e.g. after an IIR
 * read acknowledged THR-empty, so the next condition makes a new edge.
 */
public final class Serial16550 implements PortIoDevice {

    public static final int COM1_BASE = 0x3F8;
    public static final int COM1_IRQ = 4;
    public static final int COM2_BASE = 0x2F8;
    public static final int COM2_IRQ = 3;
    public static final int REGISTER_COUNT = 8;
    public static final int RX_FIFO_SIZE = 64;

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
    /** FIFO enable and the RX trigger level; the 16750's 64-byte bit (0x20) must stay clear or Linux sees a 16750. */
    private static final int FCR_KEPT_BITS = 0xC9;

    private static final int LCR_DLAB = 0x80;

    private static final int MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;

    private static final int LSR_DATA_READY = 0x01;
    private static final int LSR_OVERRUN = 0x02;
    private static final int LSR_THR_EMPTY = 0x20;
    private static final int LSR_TRANSMITTER_EMPTY = 0x40;

    private static final int MSR_DELTA_BITS = 0x0F;
    private static final int MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
    /** Outside loopback the "cable" is always connected: carrier, data set ready, clear to send. */
    private static final int MSR_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS;

    /** Registers as they are saved for snapshots; {@code rxFifo} holds the unread input, oldest first. */
    public record State(int ier, int lcr, int mcr, int lsr, int msr, int scr, int dll, int dlm, int fcr,
                        boolean thrInterruptPending, byte[] rxFifo) { }

    private final InterruptLine irq;
    private final OutputStream output;
    /** Serialises writes to {@link #output} without holding the register lock while the host writes. */
    private final Object outputLock = new Object();

    private final byte[] rxFifo = new byte[RX_FIFO_SIZE];
    private int rxHead;
    private int rxCount;

    private int ier;
    private int lcr = 0x03; // 8N1
    private int mcr = MCR_OUT2;
    private int lsr = LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY;
    private int msr = MSR_CONNECTED;
    private int scr;
    private int dll = 0x0C; // 9600 baud
    private int dlm;
    private int fcr;
    /** THR-empty stays pending until IIR reports it or THR is written (16550 data sheet). */
    private boolean thrInterruptPending;
    private boolean irqAsserted;

    /**
     * @param irq    the UART's interrupt line (COM1: ISA IRQ 4)
     * @param output where transmitted bytes go; written and flushed on the vCPU thread, so it
     *               should not block for long (stdout, a file)
     */
    public Serial16550(InterruptLine irq, OutputStream output) {
        this.irq = Objects.requireNonNull(irq, "irq");
        this.output = Objects.requireNonNull(output, "output");
    }

    @Override
    public int read(int offset, int size) {
        synchronized (this) {
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
    }

    @Override
    public void write(int offset, int size, int value) {
        int outgoing = -1;
        synchronized (this) {
            value &= 0xFF;
            switch (offset) {
                case DATA -> {
                    if ((lcr & LCR_DLAB) != 0) {
                        dll = value;
                    } else {
                        outgoing = transmit(value);
                    }
                }
                case IER -> {
                    if ((lcr & LCR_DLAB) != 0) {
                        dlm = value;
                    } else {
                        writeInterruptEnable(value);
                    }
                }
                case IIR_FCR -> writeFifoControl(value);
                case LCR -> lcr = value;
                case MCR -> writeModemControl(value);
                case SCR -> scr = value;
                default -> { } // LSR and MSR are read-only; writes are ignored
            }
            updateInterrupt();
        }
        if (outgoing >= 0) {
            send(outgoing);
        }
    }

    /**
     * Host input for the guest: queues what fits in the receive FIFO and returns how many bytes
     * were taken (0 when the FIFO is full or the UART is in loopback). Never blocks.
     */
    public synchronized int enqueueInput(byte[] data, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, data.length);
        if ((mcr & MCR_LOOP) != 0) {
            return 0; // in loopback the receiver is disconnected from the outside
        }
        int taken = 0;
        int capacity = rxCapacity();
        while (taken < length && rxCount < capacity) {
            rxFifo[(rxHead + rxCount) % RX_FIFO_SIZE] = data[offset + taken];
            rxCount++;
            taken++;
        }
        if (taken > 0) {
            lsr |= LSR_DATA_READY;
            updateInterrupt();
        }
        return taken;
    }

    public int enqueueInput(byte[] data) {
        return enqueueInput(data, 0, data.length);
    }

    /** The name the platform first used for {@link #enqueueInput(byte[], int, int)}. */
    public int receive(byte[] data, int offset, int length) {
        return enqueueInput(data, offset, length);
    }

    /** Blocks until the receive FIFO has room for at least one byte. */
    public synchronized void awaitRoom() throws InterruptedException {
        while (!hasRoom()) {
            wait();
        }
    }

    /** Feeds all of {@code data}, waiting for the guest to drain the FIFO as needed, so no byte is lost. */
    public void enqueueInputFully(byte[] data, int offset, int length) throws InterruptedException {
        Objects.checkFromIndexSize(offset, length, data.length);
        int done = 0;
        while (done < length) {
            synchronized (this) {
                awaitRoom();
                done += enqueueInput(data, offset + done, length - done);
            }
        }
    }

    public synchronized State state() {
        byte[] fifo = new byte[rxCount];
        for (int i = 0; i < rxCount; i++) {
            fifo[i] = rxFifo[(rxHead + i) % RX_FIFO_SIZE];
        }
        return new State(ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr, thrInterruptPending, fifo);
    }

    /** Puts the registers back as {@link #state()} saved them; the state must come from a {@link Serial16550}. */
    public synchronized void restore(State state) {
        if (state.rxFifo().length > RX_FIFO_SIZE) {
            throw new IllegalArgumentException("saved UART FIFO holds " + state.rxFifo().length
                    + " bytes, more than " + RX_FIFO_SIZE);
        }
        ier = state.ier() & 0x0F;
        lcr = state.lcr() & 0xFF;
        mcr = state.mcr() & 0x1F;
        msr = state.msr() & 0xFF;
        scr = state.scr() & 0xFF;
        dll = state.dll() & 0xFF;
        dlm = state.dlm() & 0xFF;
        fcr = state.fcr() & FCR_KEPT_BITS;
        thrInterruptPending = state.thrInterruptPending();
        rxHead = 0;
        rxCount = state.rxFifo().length;
        System.arraycopy(state.rxFifo(), 0, rxFifo, 0, rxCount);
        lsr = LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY | (state.lsr() & LSR_OVERRUN) | (rxCount > 0 ? LSR_DATA_READY : 0);
        updateInterrupt();
        notifyAll();
    }

    /**
     * System reset: the registers go back to their power-on values and unread input is dropped,
     * as the chip's MR pin does. The console output stream stays: it is the host's, not the UART's.
     */
    public synchronized void reset() {
        ier = 0;
        lcr = 0x03;
        mcr = MCR_OUT2;
        lsr = LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY;
        msr = MSR_CONNECTED;
        scr = 0;
        dll = 0x0C;
        dlm = 0;
        fcr = 0;
        thrInterruptPending = false;
        rxHead = 0;
        rxCount = 0;
        updateInterrupt();
        notifyAll(); // a host feeder waiting for room finds a fresh (one-byte) receiver
    }

    private boolean hasRoom() {
        return (mcr & MCR_LOOP) == 0 && rxCount < rxCapacity();
    }

    /** With FIFOs off the 16550 behaves as a 16450: one receive holding register. */
    private int rxCapacity() {
        return (fcr & FCR_FIFO_ENABLE) != 0 ? RX_FIFO_SIZE : 1;
    }

    private int readReceiveBuffer() {
        if (rxCount == 0) {
            return 0;
        }
        int value = rxFifo[rxHead] & 0xFF;
        rxHead = (rxHead + 1) % RX_FIFO_SIZE;
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
        msr &= ~MSR_DELTA_BITS; // delta bits clear on read
        return value;
    }

    private void writeInterruptEnable(int value) {
        int old = ier;
        ier = value & 0x0F; // bits 4-7 read back 0, or Linux takes us for an XScale UART
        if (((old ^ ier) & IER_THR_EMPTY) != 0) {
            // Enabling ETBEI while THR is empty interrupts at once: Linux's THRE test and its
            // console (which restores IER after writing) depend on this edge.
            thrInterruptPending = (ier & IER_THR_EMPTY) != 0 && (lsr & LSR_THR_EMPTY) != 0;
        }
    }

    private void writeFifoControl(int value) {
        int old = fcr;
        fcr = value & FCR_KEPT_BITS;
        // Clearing RX, or switching the FIFOs on or off, empties the receive FIFO (data sheet).
        if ((value & FCR_CLEAR_RX) != 0 || ((old ^ fcr) & FCR_FIFO_ENABLE) != 0) {
            rxHead = 0;
            rxCount = 0;
            lsr &= ~LSR_DATA_READY;
            notifyAll();
        }
    }

    /** Returns the byte to put on the wire, or -1 when loopback kept it inside. */
    private int transmit(int value) {
        int outgoing = value;
        if ((mcr & MCR_LOOP) != 0) {
            outgoing = -1;
            if (rxCount < rxCapacity()) {
                rxFifo[(rxHead + rxCount) % RX_FIFO_SIZE] = (byte) value;
                rxCount++;
                lsr |= LSR_DATA_READY;
            } else {
                lsr |= LSR_OVERRUN;
            }
        }
        // Sending is instantaneous, so the holding register is empty again at once and a new
        // THR-empty interrupt is due.
        thrInterruptPending = true;
        return outgoing;
    }

    private void send(int value) {
        synchronized (outputLock) {
            try {
                output.write(value);
                output.flush();
            } catch (IOException e) {
                // The console went away; the guest must not notice.
            }
        }
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
            notifyAll(); // the receiver takes host input again
        }
    }

    private void setModemLines(int lines) {
        int changed = (msr ^ lines) & 0xF0;
        int delta = ((changed & MSR_CTS) != 0 ? 0x01 : 0) | ((changed & MSR_DSR) != 0 ? 0x02 : 0)
                | ((msr & MSR_RI) != 0 && (lines & MSR_RI) == 0 ? 0x04 : 0) | ((changed & MSR_DCD) != 0 ? 0x08 : 0);
        msr = lines | (msr & MSR_DELTA_BITS) | delta;
    }

    /** The IIR interrupt id, highest priority first: line status, RX data, THR empty, modem status. */
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
        if ((ier & IER_MODEM_STATUS) != 0 && (msr & MSR_DELTA_BITS) != 0) {
            return IIR_MODEM_STATUS;
        }
        return IIR_NONE;
    }

    private void updateInterrupt() {
        boolean gateOpen = (mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
        boolean level = gateOpen && pendingInterrupt() != IIR_NONE;
        if (level != irqAsserted) {
            irqAsserted = level;
            irq.setLevel(level);
        }
    }
}
