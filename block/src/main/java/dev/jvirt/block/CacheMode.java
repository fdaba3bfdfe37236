package dev.jvirt.block;

/** QEMU's cache= modes: how writes reach the disk. */
public enum CacheMode {
    /** Every write is flushed before it completes. */
    WRITETHROUGH,
    /** Writes go to the host page cache; flush makes them durable. The default. */
    WRITEBACK,
    /** Like writeback but bypassing the host page cache (O_DIRECT where the file system allows). */
    NONE,
    /** Flushes are ignored: fast and unsafe, for scratch disks. */
    UNSAFE;

    public static CacheMode parse(String name) {
        return switch (name) {
            case "writethrough" -> WRITETHROUGH;
            case "writeback" -> WRITEBACK;
            case "none", "directsync" -> NONE;
            case "unsafe" -> UNSAFE;
            default -> throw new IllegalArgumentException("unknown cache mode '" + name + "' (writethrough, writeback, none, unsafe)");
        };
    }
}
