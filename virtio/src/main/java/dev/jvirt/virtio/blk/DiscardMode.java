package dev.jvirt.virtio.blk;

/** QEMU's -drive discard=: whether the guest's discards reach the image. */
public enum DiscardMode {
    /** Discards complete without touching the image (QEMU's default). */
    IGNORE,
    /** Discards deallocate (and read back as zeroes through the block layer). */
    UNMAP;

    public static DiscardMode parse(String value) {
        return switch (value) {
            case "ignore", "off" -> IGNORE;
            case "unmap", "on" -> UNMAP;
            default -> throw new IllegalArgumentException("invalid discard option '" + value + "' (ignore, unmap)");
        };
    }
}
