package dev.jvirt.devices.i8042;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

class I8042Test {

    private final AtomicInteger resets = new AtomicInteger();
    private final I8042 controller = new I8042(resets::incrementAndGet);

    @Test
    void selfTestAndCommandByteAnswerAsLinuxExpects() {
        controller.writeCommand(0xAA);
        assertEquals(0x01, controller.readStatus() & 0x01, "output buffer full");
        assertEquals(0x55, controller.readData());
        assertEquals(0x00, controller.readStatus() & 0x01);
        controller.writeCommand(0x60);
        controller.writeData(0x47);
        controller.writeCommand(0x20);
        assertEquals(0x47, controller.readData());
        controller.writeCommand(0xAB);
        assertEquals(0x00, controller.readData(), "keyboard interface test passes");
    }

    @Test
    void pulseResetAndOutputPortResetRequestAReset() {
        controller.writeCommand(0xFE);
        assertEquals(1, resets.get());
        controller.writeCommand(0xD1);
        controller.writeData(0xFE); // bit 0 low: reset
        assertEquals(2, resets.get());
        controller.writeCommand(0xD1);
        controller.writeData(0x01);
        assertEquals(2, resets.get());
    }

    @Test
    void unknownCommandsAreIgnored() {
        for (int command = 0; command < 256; command++) {
            if (command != 0xFE) {
                controller.writeCommand(command);
                controller.writeData(0xFF);
            }
        }
        assertEquals(0, resets.get());
    }
}
