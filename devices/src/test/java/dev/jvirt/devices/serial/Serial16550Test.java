package dev.jvirt.devices.serial;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Serial16550Test {

    private static final int DATA = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

    private final ByteArrayOutputStream output = new ByteArrayOutputStream();
    private final List<Boolean> irq = new ArrayList<>();
    private final Serial16550 uart = new Serial16550(irq::add, output);

    @Test
    void transmittedBytesReachTheConsoleAndTheTransmitterIsAlwaysReady() {
        for (byte b : "hi\n".getBytes()) {
            assertTrue((uart.read(LSR, 1) & 0x60) == 0x60, "THRE and TEMT");
            uart.write(DATA, 1, b);
        }
        assertEquals("hi\n", output.toString());
    }

    @Test
    void linuxAutoconfigSeesA16550AWithWorkingLoopback() {
        uart.write(SCR, 1, 0xA5);
        assertEquals(0xA5, uart.read(SCR, 1), "scratch register holds a value");
        uart.write(LCR, 1, 0x80);
        uart.write(DATA, 1, 0x01);
        uart.write(IER, 1, 0x00);
        assertEquals(0x01, uart.read(DATA, 1), "divisor latch low");
        uart.write(LCR, 1, 0x03);
        uart.write(IIR, 1, 0x07); // enable and clear FIFOs
        assertEquals(0xC0, uart.read(IIR, 1) & 0xC0, "FIFO bits: a 16550A");
        uart.write(MCR, 1, 0x10 | 0x0A); // loopback with RTS and OUT2
        assertEquals(0x90, uart.read(MSR, 1) & 0xF0, "RTS->CTS, OUT2->DCD in loopback");
        uart.write(DATA, 1, 'x');
        assertEquals("", output.toString(), "loopback keeps bytes off the wire");
        assertEquals('x', uart.read(DATA, 1));
        uart.write(MCR, 1, 0x0B);
        assertEquals(0xB0, uart.read(MSR, 1) & 0xF0, "outside loopback the line is connected");
    }

    @Test
    void receivedBytesRaiseTheRxInterruptUntilRead() {
        uart.write(IER, 1, 0x01);
        assertEquals(1, uart.receive("ab".getBytes(), 0, 1));
        assertEquals(List.of(true), irq);
        assertEquals(0x04, uart.read(IIR, 1) & 0x0F, "RX data available");
        assertEquals('a', uart.read(DATA, 1));
        assertEquals(List.of(true, false), irq, "the line drops once the FIFO is empty");
        assertEquals(0x01, uart.read(IIR, 1) & 0x0F);
    }

    @Test
    void thrEmptyInterruptIsRaisedOnEnableAndAcknowledgedByReadingIir() {
        uart.write(IER, 1, 0x02);
        assertEquals(List.of(true), irq, "enabling ETBEI with an empty THR interrupts");
        assertEquals(0x02, uart.read(IIR, 1) & 0x0F);
        assertEquals(0x01, uart.read(IIR, 1) & 0x0F, "reading IIR acknowledged it");
        assertEquals(List.of(true, false), irq);
        uart.write(DATA, 1, 'z');
        assertEquals(List.of(true, false, true), irq, "THR empty again after sending");
    }

    @Test
    void receiveFifoHoldsSixteenBytesAndRefusesMore() {
        byte[] many = new byte[40];
        assertEquals(16, uart.receive(many, 0, many.length));
        assertEquals(0, uart.receive(many, 0, 1));
        uart.read(DATA, 1);
        assertEquals(1, uart.receive(many, 0, 1));
    }

    @Test
    void hostileAccessesDoNotThrow() {
        for (int offset = 0; offset < 8; offset++) {
            for (int size : new int[] {1, 2, 4}) {
                uart.write(offset, size, 0xFFFFFFFF);
                uart.read(offset, size);
            }
        }
        uart.read(100, 1);
        uart.write(-1, 1, 0);
    }
}
