package dev.jvirt.devices.serial;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Serial16550Test {

    private static final int DATA = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
    private static final int NO_INTERRUPT = 0x01, THR_EMPTY = 0x02, RX_DATA = 0x04, LINE_STATUS = 0x06, MODEM_STATUS = 0x00;
    private static final int OUT2 = 0x08, LOOP = 0x10;

    /** Counts flushes so the tests can tell the console sees each byte at once. */
    private static final class Console extends ByteArrayOutputStream {
        int flushes;

        @Override
        public void flush() {
            flushes++;
        }
    }

    private final Console console = new Console();
    private final List<Boolean> irq = new CopyOnWriteArrayList<>();
    private final Serial16550 uart = new Serial16550(irq::add, console);

    private int iirId() {
        return uart.read(IIR, 1) & 0x0F;
    }

    /** The part of Linux's serial8250 autoconfig() and autoconfig_16550a() that touches registers. */
    @Test
    void linuxAutoconfigIdentifiesAPlain16550A() {
        int savedIer = uart.read(IER, 1);
        uart.write(IER, 1, 0);
        assertEquals(0, uart.read(IER, 1) & 0x0F);
        uart.write(IER, 1, 0x0F);
        assertEquals(0x0F, uart.read(IER, 1) & 0x0F, "all four enable bits stick");
        uart.write(IER, 1, savedIer);

        int savedMcr = uart.read(MCR, 1);
        uart.write(MCR, 1, LOOP | 0x0A);
        assertEquals(0x90, uart.read(MSR, 1) & 0xF0, "loopback: RTS->CTS, OUT2->DCD");
        uart.write(MCR, 1, savedMcr);

        uart.write(LCR, 1, 0xBF);
        uart.write(2, 1, 0);        // EFR on enhanced UARTs, FCR here
        uart.write(LCR, 1, 0);
        uart.write(FCR, 1, 0x01);
        assertEquals(3, uart.read(IIR, 1) >> 6, "FIFO bits 0xC0: a 16550A");

        uart.write(LCR, 1, 0x80);
        assertNotEquals(0, uart.read(2, 1), "no EFR behind DLAB: not an ST16C650V1");
        uart.write(LCR, 1, 0xBF);
        assertNotEquals(0, uart.read(2, 1), "no EFR behind 0xBF: not a 16650/16950");

        uart.write(LCR, 1, 0);
        int mcr = uart.read(MCR, 1);
        uart.write(LCR, 1, 0xE0);
        int excr1 = uart.read(2, 1);
        assertEquals(0, (excr1 ^ mcr) & LOOP);
        uart.write(LCR, 1, 0);
        uart.write(MCR, 1, mcr ^ LOOP);
        uart.write(LCR, 1, 0xE0);
        excr1 = uart.read(2, 1);
        uart.write(LCR, 1, 0);
        uart.write(MCR, 1, mcr);
        assertEquals(0, (excr1 ^ mcr) & LOOP, "EXCR1 does not follow MCR.LOOP: not an NS SuperIO UART");

        uart.write(FCR, 1, 0x01 | 0x20);
        int withoutDlab = uart.read(IIR, 1) >> 5;
        uart.write(FCR, 1, 0x01);
        uart.write(LCR, 1, 0x80);
        uart.write(FCR, 1, 0x01 | 0x20);
        int withDlab = uart.read(IIR, 1) >> 5;
        uart.write(FCR, 1, 0x01);
        uart.write(LCR, 1, 0);
        assertFalse(withoutDlab == 6 && withDlab == 7, "not a TI16750");

        int ier = uart.read(IER, 1);
        uart.write(IER, 1, ier | 0x40);
        assertEquals(0, uart.read(IER, 1) & 0x40, "IER bit 6 does not stick: not an XScale UART");

        uart.write(SCR, 1, 0xA5);
        assertEquals(0xA5, uart.read(SCR, 1));
        uart.write(LCR, 1, 0x80);
        uart.write(DATA, 1, 0x01);
        uart.write(IER, 1, 0x00);
        assertEquals(0x01, uart.read(DATA, 1), "divisor latch low");
        assertEquals(0x00, uart.read(IER, 1), "divisor latch high");
        uart.write(LCR, 1, 0x03);
        assertEquals("", console.toString(), "probing sent nothing to the console");
    }

    /** serial8250_do_startup's test: does enabling ETBEI with an empty THR interrupt, every time? */
    @Test
    void linuxStartupThreTestSeesTheInterruptEachTimeEtbeiIsEnabled() {
        uart.write(MCR, 1, 0x0B); // DTR, RTS, OUT2: Linux raises OUT2 before enabling interrupts
        uart.write(IER, 1, 0x02);
        int lsr = uart.read(LSR, 1);
        int iir1 = uart.read(IIR, 1);
        uart.write(IER, 1, 0);
        uart.write(IER, 1, 0x02);
        int iir2 = uart.read(IIR, 1);
        uart.write(IER, 1, 0);
        assertEquals(0x60, lsr & 0x60, "THRE and TEMT");
        assertEquals(THR_EMPTY, iir1 & 0x0F);
        assertEquals(THR_EMPTY, iir2 & 0x0F, "no UART_BUG_THRE");
        assertEquals(List.of(true, false, true, false), irq, "two separate edges on the IRQ line");
    }

    @Test
    void thrEmptyEdgeAfterIirAcknowledgedIt() {
        uart.write(IER, 1, 0x02);
        assertEquals(List.of(true), irq);
        assertEquals(THR_EMPTY, iirId());
        assertEquals(NO_INTERRUPT, iirId(), "reading IIR acknowledged THR empty");
        assertEquals(List.of(true, false), irq, "the line drops so the next interrupt is a new edge");
        uart.write(DATA, 1, 'z');
        assertEquals(List.of(true, false, true), irq, "THR empty again after sending: a new edge");
        assertEquals("z", console.toString());
    }

    @Test
    void interruptsReachTheLineOnlyWithOut2SetAndOutsideLoopback() {
        uart.write(MCR, 1, 0x03); // DTR and RTS, OUT2 clear
        uart.write(IER, 1, 0x01);
        uart.enqueueInput(new byte[] {'a'});
        assertEquals(RX_DATA, iirId(), "the UART itself sees the interrupt");
        assertEquals(List.of(), irq, "but OUT2 keeps it off the PIC");
        uart.write(MCR, 1, 0x0B);
        assertEquals(List.of(true), irq);
        uart.write(MCR, 1, 0x03);
        assertEquals(List.of(true, false), irq, "Linux clears OUT2 on close and the IRQ goes quiet");
        uart.write(MCR, 1, 0x0B | LOOP);
        assertEquals(List.of(true, false), irq, "loopback forces OUT2 inactive");
    }

    @Test
    void interruptPrioritiesFollowTheDataSheet() {
        uart.write(FCR, 1, 0x07);
        uart.write(MCR, 1, LOOP | OUT2);
        uart.write(IER, 1, 0x0F);
        for (int i = 0; i <= Serial16550.RX_FIFO_SIZE; i++) {
            uart.write(DATA, 1, i);
        }
        assertEquals(LINE_STATUS, iirId(), "one byte too many: overrun");
        assertEquals(0x03, uart.read(LSR, 1) & 0x03, "overrun and data ready");
        assertEquals(RX_DATA, iirId(), "reading LSR cleared the overrun");
        for (int i = 0; i < Serial16550.RX_FIFO_SIZE; i++) {
            assertEquals(i, uart.read(DATA, 1));
        }
        assertEquals(0, uart.read(LSR, 1) & 0x01);
        assertEquals(THR_EMPTY, iirId());
        assertEquals(MODEM_STATUS, iirId(), "entering loopback changed CTS/DSR, a modem status change");
        assertNotEquals(0, uart.read(MSR, 1) & 0x0F);
        assertEquals(NO_INTERRUPT, iirId(), "reading MSR cleared the deltas");
        assertEquals("", console.toString(), "loopback keeps bytes off the wire");
    }

    @Test
    void receivedBytesRaiseTheRxInterruptUntilTheFifoIsEmpty() {
        uart.write(FCR, 1, 0x01);
        uart.write(IER, 1, 0x01);
        assertEquals(2, uart.enqueueInput("ab".getBytes()));
        assertEquals(List.of(true), irq);
        assertEquals(0xC0 | RX_DATA, uart.read(IIR, 1));
        assertEquals('a', uart.read(DATA, 1));
        assertEquals(List.of(true), irq, "still data");
        assertEquals('b', uart.read(DATA, 1));
        assertEquals(List.of(true, false), irq);
        assertEquals(0xC0 | NO_INTERRUPT, uart.read(IIR, 1));
        assertEquals(0, uart.read(DATA, 1), "an empty FIFO reads 0");
    }

    @Test
    void fifoHolds64BytesWithFifosOnAndOneWithout() {
        byte[] many = new byte[100];
        assertEquals(1, uart.enqueueInput(many), "FIFOs off after reset: one holding register");
        uart.write(FCR, 1, 0x01);
        assertEquals(Serial16550.RX_FIFO_SIZE, uart.enqueueInput(many), "enabling the FIFOs emptied them");
        assertEquals(0, uart.enqueueInput(many));
        uart.read(DATA, 1);
        assertEquals(1, uart.enqueueInput(many));
        uart.write(FCR, 1, 0x03);
        assertEquals(0, uart.read(LSR, 1) & 0x01, "FCR clear-RX emptied the FIFO");
    }

    @Test
    @Timeout(10)
    void aBlockingFeederLosesNothingWhileTheGuestDrainsSlowly() throws Exception {
        uart.write(FCR, 1, 0x01);
        byte[] typed = new byte[1000];
        for (int i = 0; i < typed.length; i++) {
            typed[i] = (byte) (i * 7);
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread feeder = new Thread(() -> {
            try {
                uart.enqueueInputFully(typed, 0, typed.length);
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        feeder.start();
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        while (received.size() < typed.length) {
            if ((uart.read(LSR, 1) & 0x01) != 0) {
                received.write(uart.read(DATA, 1));
            } else {
                Thread.onSpinWait();
            }
        }
        feeder.join();
        assertEquals(null, failure.get());
        assertArrayEquals(typed, received.toByteArray());
    }

    @Test
    @Timeout(10)
    void awaitRoomWaitsForTheGuestToLeaveLoopback() throws Exception {
        uart.write(MCR, 1, LOOP);
        assertEquals(0, uart.enqueueInput(new byte[] {1}), "loopback disconnects the receiver");
        Thread waiter = new Thread(() -> {
            try {
                uart.awaitRoom();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        waiter.start();
        Thread.sleep(50);
        assertTrue(waiter.isAlive(), "no room while in loopback");
        uart.write(MCR, 1, OUT2);
        waiter.join(5000);
        assertFalse(waiter.isAlive());
    }

    @Test
    void everyTransmittedByteIsFlushedAtOnce() {
        for (byte b : "# ".getBytes()) {
            assertEquals(0x60, uart.read(LSR, 1) & 0x60, "THRE and TEMT");
            uart.write(DATA, 1, b);
        }
        assertEquals("# ", console.toString());
        assertEquals(2, console.flushes, "a prompt without newline still shows");
    }

    @Test
    void aBrokenConsoleDoesNotReachTheGuest() {
        Serial16550 broken = new Serial16550(irq::add, new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("closed");
            }
        });
        broken.write(DATA, 1, 'x');
        assertEquals(0x60, broken.read(LSR, 1) & 0x60);
    }

    @Test
    void stateRoundTripsIncludingUnreadInput() {
        uart.write(FCR, 1, 0x01);
        uart.write(LCR, 1, 0x1B);
        uart.write(SCR, 1, 0x42);
        uart.write(IER, 1, 0x01);
        uart.enqueueInput("hello".getBytes());
        uart.read(DATA, 1);
        Serial16550.State saved = uart.state();

        List<Boolean> otherIrq = new ArrayList<>();
        Serial16550 copy = new Serial16550(otherIrq::add, new ByteArrayOutputStream());
        copy.restore(saved);
        assertEquals(0x1B, copy.read(LCR, 1));
        assertEquals(0x42, copy.read(SCR, 1));
        assertEquals(List.of(true), otherIrq, "pending RX interrupt is asserted again");
        byte[] rest = new byte[4];
        for (int i = 0; i < rest.length; i++) {
            rest[i] = (byte) copy.read(DATA, 1);
        }
        assertEquals("ello", new String(rest));
        assertArrayEquals(new byte[0], copy.state().rxFifo());
    }

    @Test
    void hostileAccessesNeitherThrowNorBreakTheUart() {
        int[] offsets = {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 100, Integer.MAX_VALUE, Integer.MIN_VALUE};
        for (int offset : offsets) {
            for (int size : new int[] {0, 1, 2, 3, 4, 8, -1}) {
                uart.write(offset, size, 0xFFFFFFFF);
                uart.read(offset, size);
                uart.write(offset, size, 0x12345678);
            }
        }
        uart.write(LCR, 1, 0x03);
        uart.write(MCR, 1, OUT2);
        uart.write(FCR, 1, 0x07);
        for (int lcrOrMcr = 0; lcrOrMcr < 256; lcrOrMcr++) {
            uart.write(MCR, 1, lcrOrMcr);
            uart.write(IER, 1, lcrOrMcr);
            uart.read(IIR, 1);
        }
        uart.write(MCR, 1, OUT2);
        uart.write(LCR, 1, 0x03);
        int before = console.size();
        uart.write(DATA, 4, 0xFFFFFF41);
        assertEquals('A', console.toByteArray()[before], "only the low byte of a wide write counts");
        assertEquals(0x60, uart.read(LSR, 1) & 0x60);
        assertEquals(1, uart.enqueueInput(new byte[] {0x31}), "input still flows");
        assertEquals(0x31, uart.read(DATA, 1));
    }

    @Test
    void resetPutsEveryRegisterBackToPowerOnAndDropsInput() {
        Serial16550.State powerOn = uart.state();
        uart.write(FCR, 1, 0x01);
        uart.write(LCR, 1, 0x80);
        uart.write(DATA, 1, 0x01);                      // divisor 115200
        uart.write(LCR, 1, 0x1B);
        uart.write(IER, 1, 0x0F);
        uart.write(MCR, 1, 0x0B);
        uart.write(SCR, 1, 0x5A);
        uart.enqueueInput(new byte[] {1, 2, 3});
        assertTrue(irq.contains(true));

        uart.reset();

        Serial16550.State state = uart.state();
        assertEquals(powerOn.ier(), state.ier());
        assertEquals(powerOn.lcr(), state.lcr());
        assertEquals(powerOn.mcr(), state.mcr());
        assertEquals(powerOn.lsr(), state.lsr());
        assertEquals(powerOn.scr(), state.scr());
        assertEquals(powerOn.dll(), state.dll());
        assertEquals(powerOn.dlm(), state.dlm());
        assertEquals(powerOn.fcr(), state.fcr());
        assertEquals(0, state.rxFifo().length, "unread input is gone");
        assertEquals(false, irq.get(irq.size() - 1), "the interrupt line dropped");
        assertEquals(NO_INTERRUPT, iirId());
    }
}
