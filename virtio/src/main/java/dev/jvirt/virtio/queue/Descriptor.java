package dev.jvirt.virtio.queue;

import java.lang.foreign.MemorySegment;

/**
 * One buffer of a checked descriptor chain: where it is in guest RAM, and the host view of it.
 * {@code memory} is already known to lie inside guest RAM, so a device may read or write all
 * of it and nothing else.
 */
public record Descriptor(long address, int length, boolean deviceWritable, MemorySegment memory) {
}
