package dev.jvirt.devices.i8042;

import dev.jvirt.devices.bus.PortIoDevice;

/**
 * The PS/2 controller, as much as a server guest needs: Linux's i8042 driver probes it cleanly
 * (self-test, command byte, port tests) and {@code reboot=k} reaches us through command 0xFE,
 * "pulse the reset line". No keyboard or mouse is attached. Ports 0x60 (data) and 0x64
 * (status/command); registered as two one-port devices by the platform.
 */
public final class I8042 {

    public static final int DATA_PORT = 0x60;
    public static final int COMMAND_PORT = 0x64;

    private static final int STATUS_OUTPUT_FULL = 0x01;
    private static final int STATUS_SYSTEM_FLAG = 0x04;
    private static final int STATUS_COMMAND = 0x08;
    private static final int STATUS_UNLOCKED = 0x10; // keyboard not inhibited by a keylock

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
    private static final int CMD_WRITE_AUX = 0xD4;
    private static final int CMD_PULSE_RESET = 0xFE;

    private final Runnable resetRequest;
    private int status = STATUS_SYSTEM_FLAG | STATUS_UNLOCKED;
    private int commandByte = 0x45; // translate, system flag, keyboard interrupt
    private int output;
    private int pendingCommand;

    public I8042(Runnable resetRequest) {
        this.resetRequest = resetRequest;
    }

    public PortIoDevice dataPort() {
        return new PortIoDevice() {
            @Override
            public int read(int offset, int size) {
                return readData();
            }

            @Override
            public void write(int offset, int size, int value) {
                writeData(value & 0xFF);
            }
        };
    }

    public PortIoDevice commandPort() {
        return new PortIoDevice() {
            @Override
            public int read(int offset, int size) {
                return readStatus();
            }

            @Override
            public void write(int offset, int size, int value) {
                writeCommand(value & 0xFF);
            }
        };
    }

    synchronized int readStatus() {
        return status;
    }

    synchronized int readData() {
        status &= ~STATUS_OUTPUT_FULL;
        return output;
    }

    synchronized void writeData(int value) {
        status &= ~STATUS_COMMAND;
        switch (pendingCommand) {
            case CMD_WRITE_COMMAND_BYTE -> commandByte = value;
            case CMD_WRITE_OUTPUT_PORT -> {
                if ((value & 0x01) == 0) {
                    pendingCommand = 0;
                    reset();
                    return;
                }
            }
            case CMD_WRITE_AUX -> { } // no mouse: the byte goes nowhere
            default -> { }           // no keyboard to receive it
        }
        pendingCommand = 0;
    }

    synchronized void writeCommand(int command) {
        status |= STATUS_COMMAND;
        pendingCommand = 0;
        switch (command) {
            case CMD_READ_COMMAND_BYTE -> respond(commandByte);
            case CMD_WRITE_COMMAND_BYTE, CMD_WRITE_OUTPUT_PORT, CMD_WRITE_AUX -> pendingCommand = command;
            case CMD_SELF_TEST -> respond(0x55);
            case CMD_TEST_KBD, CMD_TEST_AUX -> respond(0x00);
            case CMD_READ_OUTPUT_PORT -> respond(0x01); // reset line high (not in reset)
            case CMD_DISABLE_KBD -> commandByte |= 0x10;
            case CMD_ENABLE_KBD -> commandByte &= ~0x10;
            case CMD_DISABLE_AUX -> commandByte |= 0x20;
            case CMD_ENABLE_AUX -> commandByte &= ~0x20;
            case CMD_PULSE_RESET -> reset();
            default -> { } // unknown commands are ignored, as by most real controllers
        }
    }

    private void respond(int value) {
        output = value & 0xFF;
        status |= STATUS_OUTPUT_FULL;
    }

    private void reset() {
        resetRequest.run();
    }
}
