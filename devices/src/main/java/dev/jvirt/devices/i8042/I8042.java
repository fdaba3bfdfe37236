package dev.jvirt.devices.i8042;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.bus.PortIoDevice;

import java.util.Objects;

/**
 * The PS/2 controller, as much as a server guest needs (Firecracker's scope): Linux's i8042
 * driver probes it cleanly (self-test, command byte, port tests, AUX loopback), a keyboard that
 * acknowledges every command is attached, no mouse is, and {@code reboot=k} reaches us through the
 * "pulse reset line" commands. Data port 0x60 and status/command port 0x64 are registered as two
 * one-port devices ({@link #dataPort()}, {@link #commandPort()}); port 0x61 is KVM's speaker port.
 *
 * <p>Bytes from the keyboard (and from the absent mouse) raise IRQ 1 (IRQ 12) while they wait in
 * the output buffer and the command byte enables that interrupt; the line drops when the guest
 * reads the byte, so each byte is an edge. Answers to controller commands raise no interrupt:
 * drivers poll for them.
 */
public final class I8042 {

    public static final int DATA_PORT = 0x60;
    public static final int COMMAND_PORT = 0x64;
    public static final int KEYBOARD_IRQ = 1;
    public static final int AUX_IRQ = 12;

    private static final int STATUS_OUTPUT_FULL = 0x01;
    private static final int STATUS_SYSTEM_FLAG = 0x04;
    private static final int STATUS_COMMAND = 0x08;
    private static final int STATUS_UNLOCKED = 0x10; // keyboard not inhibited by a keylock
    private static final int STATUS_AUX_DATA = 0x20;
    private static final int STATUS_TIMEOUT = 0x40;

    private static final int CTR_KBD_INTERRUPT = 0x01;
    private static final int CTR_AUX_INTERRUPT = 0x02;
    private static final int CTR_SYSTEM_FLAG = 0x04;
    private static final int CTR_KBD_DISABLED = 0x10;
    private static final int CTR_AUX_DISABLED = 0x20;
    private static final int CTR_TRANSLATE = 0x40;

    private static final int CMD_READ_COMMAND_BYTE = 0x20;
    private static final int CMD_WRITE_COMMAND_BYTE = 0x60;
    private static final int CMD_DISABLE_AUX = 0xA7;
    private static final int CMD_ENABLE_AUX = 0xA8;
    private static final int CMD_TEST_AUX = 0xA9;
    private static final int CMD_SELF_TEST = 0xAA;
    private static final int CMD_TEST_KBD = 0xAB;
    private static final int CMD_DISABLE_KBD = 0xAD;
    private static final int CMD_ENABLE_KBD = 0xAE;
    private static final int CMD_READ_OUTPUT_PORT = 0xD0;
    private static final int CMD_WRITE_OUTPUT_PORT = 0xD1;
    private static final int CMD_WRITE_KBD_BUFFER = 0xD2;
    private static final int CMD_WRITE_AUX_BUFFER = 0xD3;
    private static final int CMD_WRITE_AUX = 0xD4;
    /** 0xF0-0xFF pulse the output port bits whose mask bit is 0; bit 0 is the CPU reset line. */
    private static final int CMD_PULSE_OUTPUT_PORT = 0xF0;

    private static final int OUTPUT_PORT_RESET_HIGH = 0x01;
    private static final int OUTPUT_PORT_A20 = 0x02;

    private static final int KBD_ACK = 0xFA, KBD_RESEND = 0xFE, KBD_SELF_TEST_PASSED = 0xAA, KBD_ECHO = 0xEE;
    private static final int KBD_SET_LEDS = 0xED, KBD_SCAN_SET = 0xF0, KBD_GET_ID = 0xF2, KBD_SET_REPEAT = 0xF3;
    private static final int KBD_RESET = 0xFF;

    private static final int FROM_CONTROLLER = 0, FROM_KEYBOARD = 1, FROM_AUX = 2;
    private static final int QUEUE_SIZE = 16;

    /**
     * The controller's registers and queued output, for snapshots. {@code output[i]} came from
     * {@code origins[i]}: 0 controller, 1 keyboard, 2 mouse port.
     */
    public record State(int commandByte, int outputPort, int pendingCommand, int keyboardCommand,
                        boolean lastWriteWasCommand, boolean timeout, byte[] output, byte[] origins) { }

    private final Runnable resetRequest;
    private final InterruptLine keyboardIrq;
    private final InterruptLine auxIrq;
    private final PortIoDevice dataPort = new Port(true);
    private final PortIoDevice commandPort = new Port(false);

    private static final int POWER_ON_COMMAND_BYTE = CTR_TRANSLATE | CTR_SYSTEM_FLAG | CTR_KBD_INTERRUPT; // as a PC BIOS leaves it
    private static final int POWER_ON_OUTPUT_PORT = OUTPUT_PORT_RESET_HIGH | OUTPUT_PORT_A20;

    private int commandByte = POWER_ON_COMMAND_BYTE;
    private int outputPort = POWER_ON_OUTPUT_PORT;
    private int pendingCommand;
    /** A keyboard command still waiting for its parameter byte (set LEDs, typematic, scan set), or 0. */
    private int keyboardCommand;
    private boolean lastWriteWasCommand;
    private boolean timeout;

    private final byte[] queue = new byte[QUEUE_SIZE];
    private final byte[] origins = new byte[QUEUE_SIZE];
    private int head;
    private int count;
    private boolean keyboardIrqAsserted;
    private boolean auxIrqAsserted;

    /** A controller without interrupt lines: enough to probe and to reboot. */
    public I8042(Runnable resetRequest) {
        this(resetRequest, InterruptLine.NONE, InterruptLine.NONE);
    }

    /**
     * @param resetRequest called on the vCPU thread when the guest pulses the CPU reset line
     * @param keyboardIrq  ISA IRQ 1
     * @param auxIrq       ISA IRQ 12; with {@link InterruptLine#NONE} Linux's AUX IRQ test finds
     *                     no mouse port (after a 250 ms wait; {@code i8042.noaux} skips it)
     */
    public I8042(Runnable resetRequest, InterruptLine keyboardIrq, InterruptLine auxIrq) {
        this.resetRequest = Objects.requireNonNull(resetRequest, "resetRequest");
        this.keyboardIrq = Objects.requireNonNull(keyboardIrq, "keyboardIrq");
        this.auxIrq = Objects.requireNonNull(auxIrq, "auxIrq");
    }

    /** Port 0x60. */
    public PortIoDevice dataPort() {
        return dataPort;
    }

    /** Port 0x64. */
    public PortIoDevice commandPort() {
        return commandPort;
    }

    /** Injects Ctrl-Alt-Del key presses, as Firecracker's SendCtrlAltDel does; false if the buffer is full. */
    public synchronized boolean pressCtrlAltDel() {
        byte[] keys = (commandByte & CTR_TRANSLATE) != 0
                ? new byte[] {0x1D, 0x38, (byte) 0xE0, 0x53}  // scan code set 1, as the controller translates
                : new byte[] {0x14, 0x11, (byte) 0xE0, 0x71}; // set 2
        if (QUEUE_SIZE - count < keys.length) {
            return false;
        }
        for (byte key : keys) {
            enqueue(key, FROM_KEYBOARD);
        }
        updateInterrupts();
        return true;
    }

    public synchronized State state() {
        byte[] output = new byte[count];
        byte[] from = new byte[count];
        for (int i = 0; i < count; i++) {
            output[i] = queue[(head + i) % QUEUE_SIZE];
            from[i] = origins[(head + i) % QUEUE_SIZE];
        }
        return new State(commandByte, outputPort, pendingCommand, keyboardCommand, lastWriteWasCommand, timeout, output, from);
    }

    public synchronized void restore(State state) {
        if (state.output().length > QUEUE_SIZE || state.origins().length != state.output().length) {
            throw new IllegalArgumentException("saved i8042 output queue is malformed (" + state.output().length + " bytes)");
        }
        commandByte = state.commandByte() & 0xFF;
        outputPort = state.outputPort() & 0xFF;
        pendingCommand = state.pendingCommand() & 0xFF;
        keyboardCommand = state.keyboardCommand() & 0xFF;
        lastWriteWasCommand = state.lastWriteWasCommand();
        timeout = state.timeout();
        head = 0;
        count = state.output().length;
        System.arraycopy(state.output(), 0, queue, 0, count);
        for (int i = 0; i < count; i++) {
            origins[i] = (byte) Math.floorMod(state.origins()[i], 3);
        }
        updateInterrupts();
    }

    /** System reset: the controller as firmware leaves it, nothing queued, both interrupt lines low. */
    public synchronized void reset() {
        commandByte = POWER_ON_COMMAND_BYTE;
        outputPort = POWER_ON_OUTPUT_PORT;
        pendingCommand = 0;
        keyboardCommand = 0;
        lastWriteWasCommand = false;
        timeout = false;
        head = 0;
        count = 0;
        updateInterrupts();
    }

    synchronized int readStatus() {
        int status = STATUS_UNLOCKED | (commandByte & CTR_SYSTEM_FLAG);
        if (count > 0) {
            status |= STATUS_OUTPUT_FULL | (origins[head] == FROM_AUX ? STATUS_AUX_DATA : 0);
        }
        return status | (lastWriteWasCommand ? STATUS_COMMAND : 0) | (timeout ? STATUS_TIMEOUT : 0);
    }

    synchronized int readData() {
        if (count == 0) {
            return 0;
        }
        int value = queue[head] & 0xFF;
        head = (head + 1) % QUEUE_SIZE;
        count--;
        timeout = false;
        // Drop the lines first so the next queued byte, if any, is a fresh edge.
        setKeyboardIrq(false);
        setAuxIrq(false);
        updateInterrupts();
        return value;
    }

    void writeData(int value) {
        if (acceptData(value)) {
            resetRequest.run(); // outside the lock: the machine may stop vCPUs that wait for it
        }
    }

    void writeCommand(int command) {
        if (acceptCommand(command)) {
            resetRequest.run();
        }
    }

    /** Returns whether the guest asked for a CPU reset. */
    private synchronized boolean acceptData(int value) {
        lastWriteWasCommand = false;
        boolean reset = false;
        int command = pendingCommand;
        pendingCommand = 0;
        switch (command) {
            case CMD_WRITE_COMMAND_BYTE -> commandByte = value;
            case CMD_WRITE_OUTPUT_PORT -> {
                outputPort = value | OUTPUT_PORT_RESET_HIGH;
                reset = (value & OUTPUT_PORT_RESET_HIGH) == 0;
            }
            case CMD_WRITE_KBD_BUFFER -> enqueue(value, FROM_KEYBOARD);
            case CMD_WRITE_AUX_BUFFER -> enqueue(value, FROM_AUX);
            case CMD_WRITE_AUX -> {
                // No mouse is attached: the controller times out waiting for it and says so.
                timeout = true;
                enqueue(KBD_RESEND, FROM_AUX);
            }
            default -> keyboardReceives(value);
        }
        updateInterrupts();
        return reset;
    }

    /** Returns whether the guest asked for a CPU reset. */
    private synchronized boolean acceptCommand(int command) {
        lastWriteWasCommand = true;
        boolean reset = false;
        pendingCommand = 0;
        switch (command) {
            case CMD_READ_COMMAND_BYTE -> respond(commandByte);
            case CMD_WRITE_COMMAND_BYTE, CMD_WRITE_OUTPUT_PORT, CMD_WRITE_KBD_BUFFER, CMD_WRITE_AUX_BUFFER,
                 CMD_WRITE_AUX -> pendingCommand = command;
            case CMD_SELF_TEST -> respond(0x55);
            case CMD_TEST_KBD, CMD_TEST_AUX -> respond(0x00);
            case CMD_READ_OUTPUT_PORT -> respond(outputPort);
            case CMD_DISABLE_KBD -> commandByte |= CTR_KBD_DISABLED;
            case CMD_ENABLE_KBD -> commandByte &= ~CTR_KBD_DISABLED;
            case CMD_DISABLE_AUX -> commandByte |= CTR_AUX_DISABLED;
            case CMD_ENABLE_AUX -> commandByte &= ~CTR_AUX_DISABLED;
            default -> {
                // Anything but a reset pulse is ignored, as most real controllers do.
                reset = command >= CMD_PULSE_OUTPUT_PORT && (command & OUTPUT_PORT_RESET_HIGH) == 0;
            }
        }
        updateInterrupts();
        return reset;
    }

    /** The attached keyboard: acknowledges everything, answers identify, reset and echo like a PC keyboard. */
    private void keyboardReceives(int value) {
        if (keyboardCommand != 0) {
            int command = keyboardCommand;
            keyboardCommand = 0;
            enqueue(KBD_ACK, FROM_KEYBOARD);
            if (command == KBD_SCAN_SET && value == 0) {
                enqueue((commandByte & CTR_TRANSLATE) != 0 ? 0x41 : 0x02, FROM_KEYBOARD); // set 2, translated
            }
            return;
        }
        switch (value) {
            case KBD_ECHO -> enqueue(KBD_ECHO, FROM_KEYBOARD);
            case KBD_RESET -> {
                enqueue(KBD_ACK, FROM_KEYBOARD);
                enqueue(KBD_SELF_TEST_PASSED, FROM_KEYBOARD);
            }
            case KBD_GET_ID -> {
                enqueue(KBD_ACK, FROM_KEYBOARD);
                enqueue(0xAB, FROM_KEYBOARD);
                enqueue((commandByte & CTR_TRANSLATE) != 0 ? 0x41 : 0x83, FROM_KEYBOARD); // MF2, translated or not
            }
            case KBD_SET_LEDS, KBD_SET_REPEAT, KBD_SCAN_SET -> {
                keyboardCommand = value;
                enqueue(KBD_ACK, FROM_KEYBOARD);
            }
            default -> enqueue(KBD_ACK, FROM_KEYBOARD);
        }
    }

    /** A controller answer replaces whatever was waiting, so the guest reads exactly the answer next. */
    private void respond(int value) {
        head = 0;
        count = 0;
        timeout = false;
        enqueue(value, FROM_CONTROLLER);
    }

    private void enqueue(int value, int origin) {
        if (count == QUEUE_SIZE) {
            return; // a guest that never reads loses the newest bytes, as with a real keyboard buffer
        }
        int tail = (head + count) % QUEUE_SIZE;
        queue[tail] = (byte) value;
        origins[tail] = (byte) origin;
        count++;
    }

    private void updateInterrupts() {
        int origin = count > 0 ? origins[head] : -1;
        setKeyboardIrq(origin == FROM_KEYBOARD && (commandByte & CTR_KBD_INTERRUPT) != 0);
        setAuxIrq(origin == FROM_AUX && (commandByte & CTR_AUX_INTERRUPT) != 0);
    }

    private void setKeyboardIrq(boolean level) {
        if (level != keyboardIrqAsserted) {
            keyboardIrqAsserted = level;
            keyboardIrq.setLevel(level);
        }
    }

    private void setAuxIrq(boolean level) {
        if (level != auxIrqAsserted) {
            auxIrqAsserted = level;
            auxIrq.setLevel(level);
        }
    }

    /** One of the two ports; only the low byte of a wider access counts, as on the ISA bus. */
    private final class Port implements PortIoDevice {
        private final boolean data;

        Port(boolean data) {
            this.data = data;
        }

        @Override
        public int read(int offset, int size) {
            return data ? readData() : readStatus();
        }

        @Override
        public void write(int offset, int size, int value) {
            if (data) {
                writeData(value & 0xFF);
            } else {
                writeCommand(value & 0xFF);
            }
        }
    }
}
