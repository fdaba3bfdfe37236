package dev.jvirt.devices.i8042;

import dev.jvirt.devices.bus.PortIoDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class I8042Test {

    private static final int OBF = 0x01, AUX_DATA = 0x20, TIMEOUT = 0x40, KEYLOCK_OFF = 0x10;
    private static final int CTR_KBDINT = 0x01, CTR_AUXINT = 0x02, CTR_KBDDIS = 0x10, CTR_AUXDIS = 0x20;

    private final AtomicInteger resets = new AtomicInteger();
    private final List<Boolean> kbdIrq = new CopyOnWriteArrayList<>();
    private final List<Boolean> auxIrq = new CopyOnWriteArrayList<>();
    private final I8042 controller = new I8042(resets::incrementAndGet, kbdIrq::add, auxIrq::add);
    private final PortIoDevice data = controller.dataPort();
    private final PortIoDevice command = controller.commandPort();

    /** Linux's i8042_command(): write the command, its parameter, then poll for the answer. */
    private int ask(int cmd, int... param) {
        command.write(0, 1, cmd);
        for (int p : param) {
            data.write(0, 1, p);
        }
        assertEquals(OBF, command.read(0, 1) & OBF, "answer to 0x%x is waiting".formatted(cmd));
        return data.read(0, 1);
    }

    @Test
    void linuxI8042ProbeSucceedsWithoutWaitingForTimeouts() {
        while ((command.read(0, 1) & OBF) != 0) { // i8042_flush
            data.read(0, 1);
        }
        assertEquals(0x55, ask(0xAA), "controller self-test");
        int ctr = ask(0x20);
        assertEquals(ctr, ask(0x20), "a stable command byte");
        assertEquals(0x40, ctr & 0x40, "translation on, as a BIOS leaves it");
        assertEquals(KEYLOCK_OFF, command.read(0, 1) & KEYLOCK_OFF, "no keylock");
        int quiet = (ctr | CTR_KBDDIS) & ~CTR_KBDINT;
        command.write(0, 1, 0x60);
        data.write(0, 1, quiet);
        assertEquals(quiet, ask(0x20));
        assertEquals(0, command.read(0, 1) & OBF);

        // i8042_check_aux: loopback, then bit assignment tests
        int loop = ask(0xD3, 0x5A);
        assertEquals(0x5A, loop, "AUX loopback echoes");
        command.write(0, 1, 0xA7);
        assertEquals(CTR_AUXDIS, ask(0x20) & CTR_AUXDIS);
        command.write(0, 1, 0xA8);
        assertEquals(0, ask(0x20) & CTR_AUXDIS);
        assertEquals(0x00, ask(0xAB), "keyboard interface test");
        assertEquals(0x00, ask(0xA9), "aux interface test");
        assertEquals(List.of(), kbdIrq, "controller answers never interrupt");
        assertEquals(List.of(), auxIrq);
    }

    @Test
    void auxLoopbackRaisesIrq12WhenEnabledAsLinuxIrqTestExpects() {
        command.write(0, 1, 0x60);
        data.write(0, 1, 0x47 | CTR_AUXINT);
        command.write(0, 1, 0xD3);
        data.write(0, 1, 0xA5);
        assertEquals(OBF | AUX_DATA, command.read(0, 1) & (OBF | AUX_DATA));
        assertEquals(List.of(true), auxIrq);
        assertEquals(0xA5, data.read(0, 1));
        assertEquals(List.of(true, false), auxIrq);
        assertEquals(List.of(), kbdIrq);
    }

    @Test
    void keyboardIdentifiesItselfAndEachByteIsAnEdgeOnIrq1() {
        data.write(0, 1, 0xF2);
        assertEquals(List.of(true), kbdIrq);
        assertEquals(0xFA, data.read(0, 1));
        assertEquals(0xAB, data.read(0, 1));
        assertEquals(0x41, data.read(0, 1), "MF2 keyboard, id translated like the 8042 does");
        assertEquals(0, command.read(0, 1) & OBF);
        assertEquals(List.of(true, false, true, false, true, false), kbdIrq);

        data.write(0, 1, 0xED); // set LEDs: ACK, then ACK for the parameter
        assertEquals(0xFA, data.read(0, 1));
        data.write(0, 1, 0x07);
        assertEquals(0xFA, data.read(0, 1));
        data.write(0, 1, 0xFF);
        assertEquals(0xFA, data.read(0, 1));
        assertEquals(0xAA, data.read(0, 1), "basic assurance test passed");
    }

    @Test
    void keyboardBytesDoNotInterruptWhileTheCommandByteMasksThem() {
        command.write(0, 1, 0x60);
        data.write(0, 1, 0x44); // translate + system flag, interrupts off
        data.write(0, 1, 0xF4);
        assertEquals(List.of(), kbdIrq);
        assertEquals(OBF, command.read(0, 1) & OBF, "the byte waits to be polled");
        assertEquals(0xFA, data.read(0, 1));
    }

    @Test
    void writesToTheAbsentMouseTimeOut() {
        command.write(0, 1, 0xD4);
        data.write(0, 1, 0xF2);
        int status = command.read(0, 1);
        assertEquals(OBF | AUX_DATA | TIMEOUT, status & (OBF | AUX_DATA | TIMEOUT));
        assertEquals(0xFE, data.read(0, 1));
        assertEquals(0, command.read(0, 1) & (OBF | TIMEOUT));
    }

    @Test
    void ctrlAltDelArrivesAsTranslatedScanCodes() {
        assertTrue(controller.pressCtrlAltDel());
        int[] codes = new int[4];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = data.read(0, 1);
        }
        assertEquals(List.of(0x1D, 0x38, 0xE0, 0x53), List.of(codes[0], codes[1], codes[2], codes[3]));
        assertEquals(8, kbdIrq.size(), "four edges");
    }

    @Test
    void everyResetPulseAndTheOutputPortResetTheMachine() {
        command.write(0, 1, 0xFE);
        assertEquals(1, resets.get(), "reboot=k");
        command.write(0, 1, 0xD1);
        data.write(0, 1, 0xFE);
        assertEquals(2, resets.get(), "output port with the reset bit low");
        assertEquals(0x01, ask(0xD0) & 0x01, "the reset line is released again");
        command.write(0, 1, 0xD1);
        data.write(0, 1, 0x03);
        assertEquals(2, resets.get());
        for (int cmd = 0xF0; cmd <= 0xFF; cmd++) {
            command.write(0, 1, cmd);
        }
        assertEquals(2 + 8, resets.get(), "the eight pulse commands with bit 0 clear");
    }

    @Test
    @Timeout(10)
    void theResetCallbackRunsOutsideTheDeviceLock() throws Exception {
        List<Integer> seen = new ArrayList<>();
        I8042[] self = new I8042[1];
        self[0] = new I8042(() -> {
            Thread other = new Thread(() -> seen.add(self[0].commandPort().read(0, 1)));
            other.start();
            try {
                other.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        self[0].commandPort().write(0, 1, 0xFE);
        assertEquals(1, seen.size(), "another vCPU could read the status during the reset");
    }

    @Test
    void garbageNeitherThrowsNorResetsNorLeaksAnswers() {
        for (int cmd = 0; cmd < 0xF0; cmd++) {
            command.write(0, 4, 0xFFFFFF00 | cmd);
            data.write(0, 2, 0xFFFF);
            data.read(0, 4);
        }
        for (int i = 0; i < 100; i++) {
            data.write(0, 1, 0xFF); // never read: the queue stays bounded
        }
        for (int i = 0; i < 100; i++) {
            data.read(0, 1);
        }
        assertEquals(0, resets.get());
        assertEquals(0, command.read(0, 1) & OBF);
        assertEquals(0, data.read(0, 1), "an empty buffer reads 0");
        assertEquals(0x55, ask(0xAA), "still answers after all that");
    }

    @Test
    void stateRoundTripsTheCommandByteAndQueuedBytes() {
        command.write(0, 1, 0x60);
        data.write(0, 1, 0x65);
        data.write(0, 1, 0xF2);
        data.read(0, 1);
        I8042.State saved = controller.state();
        I8042 copy = new I8042(() -> { });
        copy.restore(saved);
        assertEquals(0xAB, copy.dataPort().read(0, 1));
        assertEquals(0x41, copy.dataPort().read(0, 1));
        copy.commandPort().write(0, 1, 0x20);
        assertEquals(0x65, copy.dataPort().read(0, 1));
    }

    @Test
    void resetRestoresTheFirmwareCommandByteAndEmptiesTheBuffer() {
        I8042.State powerOn = controller.state();
        command.write(0, 1, 0x60);                      // write command byte
        data.write(0, 1, CTR_KBDDIS | CTR_AUXINT);
        command.write(0, 1, 0xD2);                      // a byte "from the keyboard"
        data.write(0, 1, 0x1C);
        command.write(0, 1, 0x60);                      // a command left waiting for its parameter
        assertTrue(controller.state().output().length > 0);

        controller.reset();

        I8042.State state = controller.state();
        assertEquals(powerOn.commandByte(), state.commandByte());
        assertEquals(powerOn.outputPort(), state.outputPort());
        assertEquals(0, state.pendingCommand());
        assertEquals(0, state.output().length);
        assertEquals(0, command.read(0, 1) & OBF);
        assertEquals(0, resets.get(), "a reset of the controller is not a reset request");
    }
}
