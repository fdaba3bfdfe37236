package dev.jvirt.block;

/**
 * QEMU's cache= modes: how writes reach the disk. Each is a combination of QEMU's three
 * cache.* switches, given by {@link #writeCache()}, {@link #direct()} and {@link #noFlush()}.
 */
public enum CacheMode {
    /** Every write is flushed before it completes. */
    WRITETHROUGH,
    /** Writes go to the host page cache; flush makes them durable. The default. */
    WRITEBACK,
    /**
     * The host page cache is bypassed (O_DIRECT), but the guest still sees a write cache: a write
     * may sit in the disk's own cache until the guest flushes. The open fails where the file
     * system refuses O_DIRECT, as in QEMU.
     */
    NONE,
    /** O_DIRECT and every write durable before it completes (O_DSYNC): none plus writethrough. */
    DIRECTSYNC,
    /** Flushes are ignored: fast and unsafe, for scratch disks. */
    UNSAFE;

    public static CacheMode parse(String name) {
        return switch (name) {
            case "writethrough" -> WRITETHROUGH;
            case "writeback" -> WRITEBACK;
            case "none" -> NONE;
            case "directsync" -> DIRECTSYNC;
            case "unsafe" -> UNSAFE;
            default -> throw new IllegalArgumentException(
                    "unknown cache mode '" + name + "' (writethrough, writeback, none, directsync, unsafe)");
        };
    }

    /** QEMU's cache.writeback: the guest sees a volatile write cache and must flush it (virtio-blk WCE). */
    public boolean writeCache() {
        return this != WRITETHROUGH && this != DIRECTSYNC;
    }

    /** QEMU's cache.direct: the image is opened with O_DIRECT, bypassing the host page cache. */
    public boolean direct() {
        return this == NONE || this == DIRECTSYNC;
    }

    /** QEMU's cache.no-flush: flush requests are ignored. */
    public boolean noFlush() {
        return this == UNSAFE;
    }
}
