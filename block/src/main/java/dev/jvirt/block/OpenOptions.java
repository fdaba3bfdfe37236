package dev.jvirt.block;

/** How to open an image: read-only or not, the cache mode, and an explicit format (null: probe). */
public record OpenOptions(boolean readOnly, CacheMode cache, String format) {

    public static OpenOptions forReading() {
        return new OpenOptions(true, CacheMode.WRITEBACK, null);
    }

    public static OpenOptions forWriting() {
        return new OpenOptions(false, CacheMode.WRITEBACK, null);
    }

    public OpenOptions withFormat(String name) {
        return new OpenOptions(readOnly, cache, name);
    }

    public OpenOptions withCache(CacheMode mode) {
        return new OpenOptions(readOnly, mode, format);
    }
}
