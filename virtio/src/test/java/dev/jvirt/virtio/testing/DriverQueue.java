package dev.jvirt.virtio.testing;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.queue.Virtqueue;

import java.util.List;

/**
 * The driver's side of a split virtqueue, for tests: lays out the rings in guest RAM, writes
 * descriptors (well-formed or not), publishes heads and reads back the used ring, the way a
 * guest driver would. Buffers come from a bump allocator above the rings.
 */
public final class DriverQueue {

    public static final int F_NEXT = 1;
    public static final int F_WRITE = 2;
    public static final int F_INDIRECT = 4;

    /** One buffer of a chain: guest address, length, and whether the device writes it. */
    public record Buffer(long address, int length, boolean writable) {
        public static Buffer readable(long address, int length) {
            return new Buffer(address, length, false);
        }

        public static Buffer writable(long address, int length) {
            return new Buffer(address, length, true);
        }
    }

    public record Used(int head, int length) {
    }

    private final GuestMemory memory;
    private final int size;
    private final long descriptorTable;
    private final long availableRing;
    private final long usedRing;
    private long nextFree;
    private int nextDescriptor;
    private int availableIndex;
    private int usedRead;

    /** Rings at {@code base}; buffers are allocated after them. */
    public DriverQueue(GuestMemory memory, long base, int size) {
        this.memory = memory;
        this.size = size;
        this.descriptorTable = base;
        this.availableRing = base + 16L * size;
        this.usedRing = align(availableRing + 6 + 2L * size, 4);
        this.nextFree = align(usedRing + 6 + 8L * size, 4096);
        memory.fill(base, nextFree - base, (byte) 0);
    }

    private static long align(long value, long alignment) {
        return (value + alignment - 1) / alignment * alignment;
    }

    public int size() {
        return size;
    }

    public long descriptorTable() {
        return descriptorTable;
    }

    public long availableRing() {
        return availableRing;
    }

    public long usedRing() {
        return usedRing;
    }

    /** A device-side queue configured as a transport would after the driver's register writes. */
    public Virtqueue deviceQueue(int maxSize) {
        Virtqueue queue = new Virtqueue(maxSize);
        configure(queue);
        return queue;
    }

    public void configure(Virtqueue queue) {
        queue.setSize(size);
        queue.setDescriptorTableAddress(descriptorTable);
        queue.setAvailableRingAddress(availableRing);
        queue.setUsedRingAddress(usedRing);
        queue.setReady(true);
    }

    /** Guest RAM for a buffer of {@code length} bytes (zeroed). */
    public long allocate(int length) {
        long address = nextFree;
        nextFree = align(nextFree + length, 16);
        memory.fill(address, length, (byte) 0);
        return address;
    }

    /** Guest RAM holding {@code data}. */
    public long allocate(byte[] data) {
        long address = allocate(data.length);
        memory.write(address, data);
        return address;
    }

    /** Writes descriptor {@code index} of the table as given, however wrong. */
    public void writeDescriptor(int index, long address, int length, int flags, int next) {
        writeDescriptorAt(descriptorTable, index, address, length, flags, next);
    }

    /** Writes descriptor {@code index} of the table at {@code table} (an indirect table, say). */
    public void writeDescriptorAt(long table, int index, long address, int length, int flags, int next) {
        long at = table + 16L * index;
        memory.writeLong(at, address);
        memory.writeInt(at + 8, length);
        memory.writeU16(at + 12, flags);
        memory.writeU16(at + 14, next);
    }

    /** Writes the buffers as a chain of consecutive descriptors and makes its head available. */
    public int addChain(List<Buffer> buffers) {
        int head = nextDescriptor % size;
        for (int i = 0; i < buffers.size(); i++) {
            Buffer buffer = buffers.get(i);
            int index = (head + i) % size;
            boolean last = i == buffers.size() - 1;
            writeDescriptor(index, buffer.address(), buffer.length(),
                    (buffer.writable() ? F_WRITE : 0) | (last ? 0 : F_NEXT), last ? 0 : (index + 1) % size);
        }
        nextDescriptor += buffers.size();
        publish(head);
        return head;
    }

    /** Writes the buffers into a fresh indirect table, points one descriptor at it, and makes that available. */
    public int addIndirectChain(List<Buffer> buffers) {
        long table = allocate(16 * buffers.size());
        for (int i = 0; i < buffers.size(); i++) {
            Buffer buffer = buffers.get(i);
            boolean last = i == buffers.size() - 1;
            writeDescriptorAt(table, i, buffer.address(), buffer.length(),
                    (buffer.writable() ? F_WRITE : 0) | (last ? 0 : F_NEXT), last ? 0 : i + 1);
        }
        int head = nextDescriptor % size;
        nextDescriptor++;
        writeDescriptor(head, table, 16 * buffers.size(), F_INDIRECT, 0);
        publish(head);
        return head;
    }

    /** Puts {@code head} in the next available slot and advances the available index. */
    public void publish(int head) {
        memory.writeU16(availableRing + 4 + 2L * (availableIndex % size), head);
        setAvailableIndex(availableIndex + 1);
    }

    /** Sets the available index directly (to run it ahead of the ring, say). */
    public void setAvailableIndex(int index) {
        availableIndex = index & 0xFFFF;
        memory.writeU16(availableRing + 2, availableIndex);
    }

    public void setNoInterrupt(boolean suppress) {
        memory.writeU16(availableRing, suppress ? 1 : 0);
    }

    /** The used_event field (EVENT_IDX): interrupt when the used index passes it. */
    public void setUsedEvent(int index) {
        memory.writeU16(availableRing + 4 + 2L * size, index);
    }

    /** The device's avail_event field (EVENT_IDX). */
    public int availableEvent() {
        return memory.readU16(usedRing + 4 + 8L * size);
    }

    public int usedFlags() {
        return memory.readU16(usedRing);
    }

    public int usedIndex() {
        return memory.readU16(usedRing + 2);
    }

    /** The next used element the driver has not read yet, or null. */
    public Used nextUsed() {
        if (usedRead == usedIndex()) {
            return null;
        }
        long at = usedRing + 4 + 8L * (usedRead % size);
        usedRead = (usedRead + 1) & 0xFFFF;
        return new Used(memory.readInt(at), memory.readInt(at + 4));
    }
}
