package dev.jvirt.lab;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Tiny 64-bit guest programs wrapped as ELF "kernels". jvirt-vmm boots them like a vmlinux: in long
 * mode at the ELF entry. They let the VMM's lifecycle be tested on any /dev/kvm, even one that
 * emulates instructions far too slowly to boot Linux.
 */
public final class TinyGuest {

    public static final long LOAD_ADDRESS = 0x200000;

    /** Prints digits 0-7 over and over on COM1, with a delay loop between characters. */
    public static final byte[] COUNTER = {
        0x31, (byte) 0xC9,                               // xor ecx, ecx
        0x66, (byte) 0xBA, (byte) 0xF8, 0x03,            // loop: mov dx, 0x3f8
        (byte) 0x88, (byte) 0xC8,                        // mov al, cl
        0x24, 0x07,                                      // and al, 7
        0x04, 0x30,                                      // add al, '0'
        (byte) 0xEE,                                     // out dx, al
        (byte) 0xBB, 0x20, 0x4E, 0x00, 0x00,             // mov ebx, 20000
        (byte) 0xFF, (byte) 0xCB,                        // delay: dec ebx
        0x75, (byte) 0xFC,                               // jnz delay
        (byte) 0xFF, (byte) 0xC1,                        // inc ecx
        (byte) 0xEB, (byte) 0xE8,                        // jmp loop
    };

    /** Prints "!" and executes an invalid instruction with no IDT: a triple fault. */
    public static final byte[] TRIPLE_FAULT = {
        0x66, (byte) 0xBA, (byte) 0xF8, 0x03,            // mov dx, 0x3f8
        (byte) 0xB0, 0x21,                               // mov al, '!'
        (byte) 0xEE,                                     // out dx, al
        0x0F, 0x0B,                                      // ud2
    };

    /** Prints "bye" and writes {@code value} (16 bits) to port {@code port}: an ACPI S5 request. */
    public static byte[] writePortThenSpin(int port, int value) {
        return new byte[] {
            0x66, (byte) 0xBA, (byte) 0xF8, 0x03,        // mov dx, 0x3f8
            (byte) 0xB0, 'b', (byte) 0xEE,               // mov al, 'b'; out dx, al
            (byte) 0xB0, 'y', (byte) 0xEE,
            (byte) 0xB0, 'e', (byte) 0xEE,
            0x66, (byte) 0xBA, (byte) port, (byte) (port >> 8),          // mov dx, port
            0x66, (byte) 0xB8, (byte) value, (byte) (value >> 8),        // mov ax, value
            0x66, (byte) 0xEF,                                           // out dx, ax
            (byte) 0xEB, (byte) 0xFE,                                    // jmp $
        };
    }

    /**
     * Enables the ACPI power-button event, polls PM1_STS until the button is pressed, then
     * powers off through PM1_CNT (S5): what an OS does, without the OS.
     */
    public static byte[] powerOffOnPowerButton() {
        byte[] wait = {
            0x66, (byte) 0xBA, 0x02, 0x06,               // mov dx, 0x602 (PM1_EN)
            0x66, (byte) 0xB8, 0x00, 0x01,               // mov ax, PWRBTN_EN
            0x66, (byte) 0xEF,                           // out dx, ax
            0x66, (byte) 0xBA, 0x00, 0x06,               // mov dx, 0x600 (PM1_STS)
            0x66, (byte) 0xED,                           // poll: in ax, dx
            0x66, (byte) 0xA9, 0x00, 0x01,               // test ax, PWRBTN_STS
            0x74, (byte) 0xF8,                           // jz poll
        };
        byte[] off = writePortThenSpin(0x604, (5 << 10) | (1 << 13));
        byte[] code = new byte[wait.length + off.length];
        System.arraycopy(wait, 0, code, 0, wait.length);
        System.arraycopy(off, 0, code, wait.length, off.length);
        return code;
    }

    /** Where {@link #bootCounter} keeps its count: RAM, which a reset does not clear. */
    public static final int BOOT_COUNT_ADDRESS = 0x300000;

    /**
     * Prints "B" and the boot number (1, 2, ...; counted in RAM at {@link #BOOT_COUNT_ADDRESS}) on
     * COM1, so a reset that boots the guest again shows as "B1B2". With {@code resetOnFirstBoot}
     * the first boot resets the machine through port 0xCF9 (what Linux's reboot=pci writes) and
     * the second powers off ("bye", ACPI S5); without it, the guest spins after printing.
     */
    public static byte[] bootCounter(boolean resetOnFirstBoot) {
        byte a0 = 0x00, a1 = 0x00, a2 = 0x30, a3 = 0x00; // BOOT_COUNT_ADDRESS, little-endian
        byte[] count = {
            0x66, (byte) 0xBA, (byte) 0xF8, 0x03,        // mov dx, 0x3f8
            (byte) 0xB0, 'B', (byte) 0xEE,               // mov al, 'B'; out dx, al
            (byte) 0xFE, 0x04, 0x25, a0, a1, a2, a3,     // inc byte [BOOT_COUNT_ADDRESS]
            (byte) 0x8A, 0x04, 0x25, a0, a1, a2, a3,     // mov al, [BOOT_COUNT_ADDRESS]
            0x04, 0x30,                                  // add al, '0'
            (byte) 0xEE,                                 // out dx, al
        };
        if (!resetOnFirstBoot) {
            return concat(count, new byte[] {(byte) 0xEB, (byte) 0xFE}); // jmp $
        }
        byte[] resetOrOff = {
            0x3C, '2',                                   // cmp al, '2'
            0x74, 0x08,                                  // je poweroff (past the next 8 bytes)
            0x66, (byte) 0xBA, (byte) 0xF9, 0x0C,        // mov dx, 0xcf9
            (byte) 0xB0, 0x06,                           // mov al, 6 (hard reset, start)
            (byte) 0xEE,                                 // out dx, al
            (byte) 0xF4,                                 // hlt (never reached: the reset stops the vCPU)
        };
        return concat(concat(count, resetOrOff), writePortThenSpin(0x604, (5 << 10) | (1 << 13)));
    }

    private static byte[] concat(byte[] first, byte[] second) {
        byte[] joined = new byte[first.length + second.length];
        System.arraycopy(first, 0, joined, 0, first.length);
        System.arraycopy(second, 0, joined, first.length, second.length);
        return joined;
    }

    /** Writes {@code code} as a minimal ELF64 executable with one PT_LOAD segment at 2 MiB. */
    public static Path elf(Path dir, String name, byte[] code) throws IOException {
        int headerSize = 64 + 56;
        ByteBuffer b = ByteBuffer.allocate(headerSize + code.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7F, 'E', 'L', 'F', 2, 1, 1, 0}).put(new byte[8]);
        b.putShort((short) 2).putShort((short) 62).putInt(1);      // ET_EXEC, x86-64, version
        b.putLong(LOAD_ADDRESS + headerSize);                       // e_entry: just past the headers
        b.putLong(64).putLong(0);                                   // e_phoff, e_shoff
        b.putInt(0).putShort((short) 64).putShort((short) 56);      // flags, ehsize, phentsize
        b.putShort((short) 1).putShort((short) 64).putShort((short) 0).putShort((short) 0);
        b.putInt(1).putInt(7);                                      // PT_LOAD, RWX
        b.putLong(0).putLong(LOAD_ADDRESS).putLong(LOAD_ADDRESS);   // offset, vaddr, paddr
        b.putLong(headerSize + code.length).putLong(headerSize + code.length).putLong(0x1000);
        b.put(code);
        Path file = dir.resolve(name);
        Files.write(file, b.array());
        return file;
    }

    private TinyGuest() {
    }
}
