package dev.jvirt.vmm.boot;

import dev.jvirt.memory.E820Map;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.memory.MemoryBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LinuxLoaderTest {

    @TempDir
    Path dir;

    /** A minimal bzImage: 4 setup sectors with a 2.15 header, then a payload of {@code payload} bytes. */
    static byte[] fakeBzImage(int payload, long initSize) {
        byte[] image = new byte[5 * 512 + payload];
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        image[0x1F1] = 4;
        b.putShort(0x1FE, (short) 0xAA55);
        image[0x201] = 0x66; // jump offset: header ends at 0x268
        b.putInt(0x202, 0x53726448);
        b.putShort(0x206, (short) 0x020F);
        image[0x211] = 0x01;                    // LOADED_HIGH
        b.putInt(0x22C, 0x7FFFFFFF);            // initrd_addr_max
        b.putShort(0x236, (short) 0x0003);      // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
        b.putInt(0x238, 2047);                  // cmdline_size
        b.putInt(0x260, (int) initSize);
        for (int i = 5 * 512; i < image.length; i++) {
            image[i] = (byte) i;
        }
        return image;
    }

    private Path write(String name, byte[] content) throws Exception {
        Path file = dir.resolve(name);
        Files.write(file, content);
        return file;
    }

    private static E820Map e820(GuestMemory memory) {
        return new E820Map().add(0, 0x9FC00, E820Map.RAM).add(0x100000, memory.lowRamEnd() - 0x100000, E820Map.RAM);
    }

    @Test
    void bootParamsDescribeKernelInitrdAndCommandLine() throws Exception {
        Path kernel = write("bzImage", fakeBzImage(64 * 1024, 4 << 20));
        Path initrd = write("initrd", new byte[300_000]);
        try (GuestMemory memory = GuestMemory.allocate(64 << 20, MemoryBackend.anonymous())) {
            KernelEntry entry = LinuxLoader.load(memory, kernel, initrd, "console=ttyS0", e820(memory), 0xE0000);
            assertEquals(0x100200, entry.entryPoint(), "64-bit entry is 0x200 into the protected-mode kernel");
            long zp = entry.bootParams();
            assertEquals(0x53726448, memory.readInt(zp + 0x202), "setup header copied");
            assertEquals(0xFF, memory.readU8(zp + 0x210), "type_of_loader");
            long cmdline = Integer.toUnsignedLong(memory.readInt(zp + 0x228));
            assertEquals("console=ttyS0", new String(memory.read(cmdline, 13), StandardCharsets.US_ASCII));
            assertEquals(0, memory.readU8(cmdline + 13));
            long ramdisk = Integer.toUnsignedLong(memory.readInt(zp + 0x218));
            assertEquals(300_000, memory.readInt(zp + 0x21C));
            assertEquals(0, ramdisk % 4096, "initrd page aligned");
            assertTrue(ramdisk >= 0x100000 + (4 << 20), "initrd above the kernel's init_size");
            assertTrue(ramdisk + 300_000 <= 64 << 20);
            assertEquals(2, memory.readU8(zp + 0x1E8), "e820 entries");
            assertEquals(0x100000, memory.readLong(zp + 0x2D0 + 20 + 0));
            assertEquals(0xE0000, memory.readLong(zp + 0x70), "acpi_rsdp_addr");
            assertEquals((byte) (5 * 512), memory.read(0x100000, 1)[0], "payload at 1 MiB");
        }
    }

    @Test
    void tooLittleMemoryIsReportedNotBooted() throws Exception {
        Path kernel = write("bzImage", fakeBzImage(1024, 30 << 20));
        try (GuestMemory memory = GuestMemory.allocate(16 << 20, MemoryBackend.anonymous())) {
            BootException e = assertThrows(BootException.class,
                    () -> LinuxLoader.load(memory, kernel, null, "", e820(memory), 0));
            assertEquals("-m 16 MiB is too small for the kernel (30 MiB including its decompression space)", e.getMessage());
        }
        Path small = write("small", fakeBzImage(1024, 4 << 20));
        Path initrd = write("big-initrd", new byte[14 << 20]);
        try (GuestMemory memory = GuestMemory.allocate(16 << 20, MemoryBackend.anonymous())) {
            BootException e = assertThrows(BootException.class,
                    () -> LinuxLoader.load(memory, small, initrd, "", e820(memory), 0));
            assertEquals("-m 16 MiB is too small for the kernel and a 14 MiB initrd", e.getMessage());
        }
    }

    @Test
    void filesThatAreNotKernelsAreNamed() throws Exception {
        Path text = write("notes.txt", "just some text, certainly not a kernel".repeat(40).getBytes());
        Path missing = dir.resolve("missing");
        byte[] old = fakeBzImage(1024, 1 << 20);
        old[0x206] = 0x04; // protocol 2.04
        Path oldKernel = write("old", old);
        try (GuestMemory memory = GuestMemory.allocate(16 << 20, MemoryBackend.anonymous())) {
            assertEquals(text + ": not a Linux kernel image (no bzImage setup header, no ELF header)",
                    assertThrows(BootException.class, () -> LinuxLoader.load(memory, text, null, "", e820(memory), 0)).getMessage());
            assertEquals("could not load kernel '" + missing + "': No such file or directory",
                    assertThrows(BootException.class, () -> LinuxLoader.load(memory, missing, null, "", e820(memory), 0)).getMessage());
            assertTrue(assertThrows(BootException.class, () -> LinuxLoader.load(memory, oldKernel, null, "", e820(memory), 0))
                    .getMessage().contains("boot protocol 2.04 is too old"));
            Path kernel = write("k", fakeBzImage(1024, 1 << 20));
            assertTrue(assertThrows(BootException.class, () -> LinuxLoader.load(memory, kernel, null, "x".repeat(3000), e820(memory), 0))
                    .getMessage().startsWith("-append: command line of 3000 bytes is longer than the kernel's limit of 2047"));
        }
    }
}
