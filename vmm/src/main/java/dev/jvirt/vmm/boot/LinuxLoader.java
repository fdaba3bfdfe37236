package dev.jvirt.vmm.boot;

import dev.jvirt.memory.E820Map;
import dev.jvirt.memory.GuestMemory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * Loads a Linux kernel (bzImage or ELF vmlinux), its initrd and command line into guest RAM and
 * fills in boot_params for the 64-bit boot protocol, or hvm_start_info for a vmlinux with a PVH
 * note (as QEMU and Firecracker boot one). Every size is checked against guest RAM first, so a
 * guest that is too small gets a message instead of a kernel that dies mysteriously.
 */
public final class LinuxLoader {

    // boot_params offsets (arch/x86/include/uapi/asm/bootparam.h).
    private static final int ACPI_RSDP_ADDR = 0x070;
    private static final int EXT_RAMDISK_IMAGE = 0x0C0;
    private static final int EXT_RAMDISK_SIZE = 0x0C4;
    private static final int EXT_CMD_LINE_PTR = 0x0C8;
    private static final int E820_ENTRIES = 0x1E8;
    private static final int VID_MODE = 0x1FA;
    private static final int TYPE_OF_LOADER = 0x210;
    private static final int RAMDISK_IMAGE = 0x218;
    private static final int RAMDISK_SIZE = 0x21C;
    private static final int CMD_LINE_PTR = 0x228;
    private static final int E820_TABLE = 0x2D0;
    private static final int E820_MAX_ENTRIES = 128;
    private static final long PAGE = 4096;

    private LinuxLoader() {
    }

    /**
     * Loads everything and returns where the boot vCPU starts.
     *
     * @param rsdpAddress guest address of the ACPI RSDP (0 if none)
     */
    public static KernelEntry load(GuestMemory memory, Path kernelPath, Path initrdPath, String commandLine,
                                   E820Map e820, long rsdpAddress) throws BootException {
        return load(memory, read(kernelPath, initrdPath, commandLine), e820, rsdpAddress);
    }

    /**
     * The kernel, initrd and command line as read once at start: a reset boots these bytes again
     * (as QEMU keeps them in its ROM blobs), whatever happened to the files since.
     */
    public record BootFiles(String kernelName, byte[] kernel, byte[] initrd, String commandLine) { }

    public static BootFiles read(Path kernelPath, Path initrdPath, String commandLine) throws BootException {
        byte[] image = readFile("kernel", kernelPath);
        byte[] initrd = initrdPath == null ? null : readFile("initrd", initrdPath);
        return new BootFiles(kernelPath.toString(), image, initrd, commandLine);
    }

    /** Loads (or, at a reset, reloads) {@code files} into guest RAM; returns where the boot vCPU starts. */
    public static KernelEntry load(GuestMemory memory, BootFiles files, E820Map e820, long rsdpAddress) throws BootException {
        byte[] image = files.kernel();
        byte[] initrd = files.initrd();
        String name = files.kernelName();

        byte[] cmdline = files.commandLine().getBytes(StandardCharsets.UTF_8);
        long zeroPage = BootLayout.ZERO_PAGE;
        memory.fill(zeroPage, PAGE, (byte) 0);

        long kernelEnd;
        long initrdLimit;
        long entry;
        OptionalLong pvhEntry = OptionalLong.empty();
        if (BzImage.looksLikeBzImage(image)) {
            BzImage kernel = BzImage.parse(name, image);
            if (cmdline.length > Math.min(kernel.commandLineMax(), BootLayout.COMMAND_LINE_MAX - 1)) {
                throw new BootException("-append: command line of %d bytes is longer than the kernel's limit of %d"
                        .formatted(cmdline.length, kernel.commandLineMax()));
            }
            kernelEnd = BootLayout.KERNEL_LOAD + Math.max(kernel.initSize(), kernel.kernelSize());
            requireRam(memory, kernelEnd, "the kernel (%d MiB including its decompression space)".formatted(
                    (kernelEnd - BootLayout.KERNEL_LOAD + (1 << 20) - 1) >> 20));
            memory.write(BootLayout.KERNEL_LOAD, image, kernel.kernelOffset(), kernel.kernelSize());
            memory.write(zeroPage + BzImage.HEADER_OFFSET, kernel.setupHeader());
            initrdLimit = kernel.initrdAddressMax();
            entry = BootLayout.KERNEL_LOAD + 0x200;
        } else if (ElfKernel.looksLikeElf(image)) {
            ElfKernel.Loaded loaded = ElfKernel.load(name, image, memory);
            entry = loaded.entry();
            kernelEnd = loaded.end();
            pvhEntry = loaded.pvhEntry();
            initrdLimit = 0x37FF_FFFFL; // the boot protocol's default initrd_addr_max
            if (cmdline.length > BootLayout.COMMAND_LINE_MAX - 1) {
                throw new BootException("-append: command line of " + cmdline.length + " bytes is too long");
            }
            if (pvhEntry.isEmpty()) {
                // A minimal setup header, so the kernel sees a boot protocol version and our loader type.
                memory.writeU16(zeroPage + 0x1FE, 0xAA55);
                memory.writeInt(zeroPage + 0x202, 0x53726448);
                memory.writeU16(zeroPage + 0x206, 0x020F);
            }
        } else {
            throw new BootException(name + ": not a Linux kernel image (no bzImage setup header, no ELF header)");
        }

        memory.write(BootLayout.COMMAND_LINE, cmdline);
        memory.writeU8(BootLayout.COMMAND_LINE + cmdline.length, 0);
        long initrdAddress = initrd == null ? 0 : placeInitrd(memory, initrd, initrdLimit, kernelEnd);

        if (pvhEntry.isPresent()) {
            long startInfo = PvhStartInfo.write(memory, BootLayout.COMMAND_LINE, initrdAddress,
                    initrd == null ? 0 : initrd.length, e820, rsdpAddress);
            return new KernelEntry(pvhEntry.getAsLong(), startInfo, KernelEntry.Protocol.PVH);
        }
        memory.writeInt(zeroPage + CMD_LINE_PTR, (int) BootLayout.COMMAND_LINE);
        memory.writeInt(zeroPage + EXT_CMD_LINE_PTR, 0);
        memory.writeU8(zeroPage + TYPE_OF_LOADER, 0xFF); // "undefined" loader, as the protocol asks of new loaders
        memory.writeU16(zeroPage + VID_MODE, 0xFFFF);    // normal VGA mode: no mode switch

        if (initrd != null) {
            memory.writeInt(zeroPage + RAMDISK_IMAGE, (int) initrdAddress);
            memory.writeInt(zeroPage + EXT_RAMDISK_IMAGE, (int) (initrdAddress >>> 32));
            memory.writeInt(zeroPage + RAMDISK_SIZE, initrd.length);
            memory.writeInt(zeroPage + EXT_RAMDISK_SIZE, 0);
        }

        var entries = e820.entries();
        if (entries.size() > E820_MAX_ENTRIES) {
            throw new IllegalStateException("too many e820 entries: " + entries.size());
        }
        memory.writeU8(zeroPage + E820_ENTRIES, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            long slot = zeroPage + E820_TABLE + 20L * i;
            memory.writeLong(slot, entries.get(i).address());
            memory.writeLong(slot + 8, entries.get(i).size());
            memory.writeInt(slot + 16, entries.get(i).type());
        }
        memory.writeLong(zeroPage + ACPI_RSDP_ADDR, rsdpAddress);
        return new KernelEntry(entry, zeroPage, KernelEntry.Protocol.LINUX_64);
    }

    /** Puts the initrd as high as the kernel allows, page aligned, above the kernel; returns where. */
    private static long placeInitrd(GuestMemory memory, byte[] initrd, long initrdLimit, long kernelEnd)
            throws BootException {
        long highest = Math.min(initrdLimit, memory.lowRamEnd() - 1);
        long address = (highest + 1 - initrd.length) & ~(PAGE - 1);
        if (address < kernelEnd || initrd.length > highest) {
            throw new BootException("-m %d MiB is too small for the kernel and a %d MiB initrd".formatted(
                    memory.ramSize() >> 20, (initrd.length + (1 << 20) - 1) >> 20));
        }
        memory.write(address, initrd);
        return address;
    }

    private static void requireRam(GuestMemory memory, long end, String what) throws BootException {
        if (end > memory.lowRamEnd()) {
            throw new BootException("-m %d MiB is too small for %s".formatted(memory.ramSize() >> 20, what));
        }
    }

    private static byte[] readFile(String what, Path path) throws BootException {
        try {
            if (Files.isDirectory(path)) {
                throw new BootException("could not load " + what + " '" + path + "': is a directory");
            }
            long size = Files.size(path);
            if (size > Integer.MAX_VALUE - 8) {
                throw new BootException("could not load " + what + " '" + path + "': file is larger than 2 GiB");
            }
            if (size == 0) {
                throw new BootException("could not load " + what + " '" + path + "': file is empty");
            }
            return Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new BootException("could not load " + what + " '" + path + "': No such file or directory");
        } catch (IOException e) {
            throw new BootException("could not load " + what + " '" + path + "': " + e.getMessage());
        }
    }
}
