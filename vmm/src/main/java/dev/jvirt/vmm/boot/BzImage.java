package dev.jvirt.vmm.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A Linux bzImage as the x86 boot protocol describes it (Documentation/arch/x86/boot.rst):
 * the real-mode setup sectors with the setup header at 0x1F1, then the protected-mode kernel.
 * Only the fields jvirt's 64-bit boot path uses are decoded; every one is checked.
 */
public final class BzImage {

    static final int HEADER_OFFSET = 0x1F1;
    private static final int BOOT_FLAG = 0x1FE;
    private static final int HEADER_MAGIC = 0x202;
    private static final int VERSION = 0x206;
    private static final int LOADFLAGS = 0x211;
    private static final int INITRD_ADDR_MAX = 0x22C;
    private static final int XLOADFLAGS = 0x236;
    private static final int CMDLINE_SIZE = 0x238;
    private static final int INIT_SIZE = 0x260;

    private static final int LOADED_HIGH = 0x01;
    private static final int XLF_KERNEL_64 = 0x01;
    /** 2.12 introduced xloadflags, which is how a kernel says it has the 64-bit entry point. */
    private static final int MIN_VERSION = 0x020C;

    private final byte[] image;
    private final ByteBuffer header;
    private final int setupSize;

    private BzImage(byte[] image) {
        this.image = image;
        this.header = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        int setupSectors = Byte.toUnsignedInt(image[HEADER_OFFSET]);
        this.setupSize = ((setupSectors == 0 ? 4 : setupSectors) + 1) * 512;
    }

    /** True when {@code image} carries the bzImage signatures (boot flag and "HdrS"). */
    public static boolean looksLikeBzImage(byte[] image) {
        if (image.length < 0x268) {
            return false;
        }
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        return Short.toUnsignedInt(b.getShort(BOOT_FLAG)) == 0xAA55 && b.getInt(HEADER_MAGIC) == 0x53726448;
    }

    public static BzImage parse(String name, byte[] image) throws BootException {
        if (!looksLikeBzImage(image)) {
            throw new BootException(name + ": not a Linux kernel image (no bzImage setup header, no ELF header)");
        }
        BzImage kernel = new BzImage(image);
        if (kernel.protocolVersion() < MIN_VERSION) {
            throw new BootException(name + ": boot protocol %d.%02d is too old; 2.12 or later is needed for a 64-bit entry"
                    .formatted(kernel.protocolVersion() >> 8, kernel.protocolVersion() & 0xFF));
        }
        if ((kernel.loadflags() & LOADED_HIGH) == 0) {
            throw new BootException(name + ": a zImage that loads below 1 MiB is not supported");
        }
        if ((kernel.xloadflags() & XLF_KERNEL_64) == 0) {
            throw new BootException(name + ": kernel has no 64-bit entry point (not an x86-64 kernel)");
        }
        if (kernel.setupSize >= image.length) {
            throw new BootException(name + ": truncated: setup claims %d bytes of a %d-byte file".formatted(kernel.setupSize, image.length));
        }
        return kernel;
    }

    public int protocolVersion() {
        return Short.toUnsignedInt(header.getShort(VERSION));
    }

    public int loadflags() {
        return Byte.toUnsignedInt(image[LOADFLAGS]);
    }

    public int xloadflags() {
        return Short.toUnsignedInt(header.getShort(XLOADFLAGS));
    }

    /** Highest address the initrd may occupy (inclusive). */
    public long initrdAddressMax() {
        return Integer.toUnsignedLong(header.getInt(INITRD_ADDR_MAX));
    }

    /** Longest command line the kernel accepts, excluding the terminating NUL. */
    public int commandLineMax() {
        return header.getInt(CMDLINE_SIZE);
    }

    /** Bytes of memory the kernel needs from its load address while it decompresses and starts. */
    public long initSize() {
        return Integer.toUnsignedLong(header.getInt(INIT_SIZE));
    }

    /** The setup header bytes, 0x1F1 up to the end the header's own jump says (boot.rst). */
    public byte[] setupHeader() {
        int end = 0x202 + Byte.toUnsignedInt(image[0x201]);
        end = Math.min(Math.max(end, 0x268), Math.min(image.length, 0x290));
        byte[] copy = new byte[end - HEADER_OFFSET];
        System.arraycopy(image, HEADER_OFFSET, copy, 0, copy.length);
        return copy;
    }

    public int kernelOffset() {
        return setupSize;
    }

    public int kernelSize() {
        return image.length - setupSize;
    }

    public byte[] image() {
        return image;
    }
}
