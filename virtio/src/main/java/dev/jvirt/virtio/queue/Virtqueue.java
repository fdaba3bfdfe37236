package dev.jvirt.virtio.queue;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.VirtioException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * A split virtqueue (virtio 1.2, section 2.7) from the device's side. The transport sets the
 * size and ring addresses the driver wrote, then {@link #activate}s it; the device pops checked
 * descriptor chains and returns them through the used ring.
 *
 * <p>Everything the driver controls is checked before use: ring addresses (alignment, inside
 * RAM), the available index (never more than a queue's worth ahead), head and next indices
 * (inside the table), chain length (no loops: at most one queue's worth of descriptors, at most
 * one indirect table, only at the head), every buffer (non-empty, inside RAM) and the order
 * (readable before writable). A violation is a {@link VirtioException}; the queue has then
 * consumed nothing and the device should go to NEEDS_RESET.
 *
 * <p>One thread at a time pops and adds used buffers; the transport's register calls happen
 * while the queue is not in use (before DRIVER_OK or after reset).
 */
public final class Virtqueue {

    public static final int MAX_SIZE = 32768;

    static final int DESCRIPTOR_SIZE = 16;
    static final int F_NEXT = 1;
    static final int F_WRITE = 2;
    static final int F_INDIRECT = 4;
    static final int AVAIL_F_NO_INTERRUPT = 1;
    static final int USED_F_NO_NOTIFY = 1;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private final int maxSize;
    private int size;
    private boolean ready;
    private long descriptorTableAddress;
    private long availableRingAddress;
    private long usedRingAddress;

    private GuestMemory memory;
    private MemorySegment descriptorTable;
    private MemorySegment availableRing;
    private MemorySegment usedRing;
    private boolean eventIndex;
    private boolean indirectAllowed;
    private short nextAvailable;
    private short nextUsed;
    /** The used index when we last decided whether to interrupt (EVENT_IDX needs the old value). */
    private short signalledUsed;

    public Virtqueue(int maxSize) {
        if (maxSize < 1 || maxSize > MAX_SIZE || Integer.bitCount(maxSize) != 1) {
            throw new IllegalArgumentException("queue size " + maxSize + " is not a power of two up to " + MAX_SIZE);
        }
        this.maxSize = maxSize;
        this.size = maxSize;
    }

    public int maxSize() {
        return maxSize;
    }

    public int size() {
        return size;
    }

    /** The driver's queue_size write; a bad value is remembered and refused at activation. */
    public void setSize(int size) {
        this.size = size;
    }

    public boolean isReady() {
        return ready;
    }

    public void setReady(boolean ready) {
        this.ready = ready;
    }

    public long descriptorTableAddress() {
        return descriptorTableAddress;
    }

    public void setDescriptorTableAddress(long address) {
        this.descriptorTableAddress = address;
    }

    public long availableRingAddress() {
        return availableRingAddress;
    }

    public void setAvailableRingAddress(long address) {
        this.availableRingAddress = address;
    }

    public long usedRingAddress() {
        return usedRingAddress;
    }

    public void setUsedRingAddress(long address) {
        this.usedRingAddress = address;
    }

    /**
     * Checks what the driver configured and maps the rings. {@code eventIndex} and
     * {@code indirect} are the negotiated VIRTIO_F_RING_EVENT_IDX and VIRTIO_F_RING_INDIRECT_DESC.
     */
    public void activate(GuestMemory memory, boolean eventIndex, boolean indirect) throws VirtioException {
        if (!ready) {
            throw new VirtioException("queue is not enabled");
        }
        // Section 2.7: a split queue's size need not be a power of two, but a zero size or one
        // above the device's maximum makes every index check meaningless.
        if (size < 1 || size > maxSize) {
            throw new VirtioException("queue size " + size + " is outside 1.." + maxSize);
        }
        this.descriptorTable = ring(memory, "descriptor table", descriptorTableAddress, 16, (long) DESCRIPTOR_SIZE * size);
        this.availableRing = ring(memory, "available ring", availableRingAddress, 2, 6 + 2L * size);
        this.usedRing = ring(memory, "used ring", usedRingAddress, 4, 6 + 8L * size);
        this.memory = memory;
        this.eventIndex = eventIndex;
        this.indirectAllowed = indirect;
        this.nextAvailable = 0;
        // A freshly enabled queue starts at index 0 on both rings (section 2.7.6, 2.7.8).
        this.nextUsed = 0;
        this.signalledUsed = 0;
    }

    private static MemorySegment ring(GuestMemory memory, String what, long address, int alignment, long length) throws VirtioException {
        if (address % alignment != 0) {
            throw new VirtioException(what + " at 0x" + Long.toHexString(address) + " is not " + alignment + "-byte aligned");
        }
        if (!memory.isRam(address, length)) {
            throw new VirtioException(what + " at 0x" + Long.toHexString(address) + " (" + length + " bytes) is outside guest RAM");
        }
        return memory.slice(address, length);
    }

    public boolean isActive() {
        return memory != null;
    }

    /** Back to the state after device reset: not ready, no rings, registers cleared. */
    public void reset() {
        ready = false;
        size = maxSize;
        descriptorTableAddress = 0;
        availableRingAddress = 0;
        usedRingAddress = 0;
        memory = null;
        descriptorTable = null;
        availableRing = null;
        usedRing = null;
        nextAvailable = 0;
        nextUsed = 0;
        signalledUsed = 0;
    }

    /**
     * The next available chain, or null when the driver has made none available.
     *
     * @throws VirtioException if the driver's ring or chain breaks the rules
     */
    public DescriptorChain pop() throws VirtioException {
        requireActive();
        short available = availableRing.get(U16, 2);
        int pending = Short.toUnsignedInt((short) (available - nextAvailable));
        if (pending == 0) {
            return null;
        }
        if (pending > size) {
            throw new VirtioException("available index " + Short.toUnsignedInt(available) + " is " + pending
                    + " entries ahead of " + Short.toUnsignedInt(nextAvailable) + " in a queue of " + size);
        }
        // Read the ring entry only after the index that published it (the driver wrote it first).
        VarHandle.acquireFence();
        int slot = Short.toUnsignedInt(nextAvailable) % size;
        int head = Short.toUnsignedInt(availableRing.get(U16, 4 + 2L * slot));
        DescriptorChain chain = walk(head);
        nextAvailable++;
        if (eventIndex) {
            publishAvailableEvent();
        }
        return chain;
    }

    /** Puts back the chain {@link #pop()} returned last, as if it had not been taken (a device that ran out of room). */
    public void undoPop() {
        requireActive();
        nextAvailable--;
    }

    private DescriptorChain walk(int head) throws VirtioException {
        if (head >= size) {
            throw new VirtioException("head descriptor " + head + " is outside a queue of " + size);
        }
        List<Descriptor> readable = new ArrayList<>(4);
        List<Descriptor> writable = new ArrayList<>(4);
        MemorySegment table = descriptorTable;
        int tableSize = size;
        int index = head;
        int visited = 0;
        boolean inIndirect = false;
        while (true) {
            long at = (long) DESCRIPTOR_SIZE * index;
            long address = table.get(U64, at);
            int length = table.get(U32, at + 8);
            int flags = Short.toUnsignedInt(table.get(U16, at + 12));
            int next = Short.toUnsignedInt(table.get(U16, at + 14));
            if (++visited > tableSize) {
                throw new VirtioException("descriptor chain from head " + head + " is longer than its table of " + tableSize + " (a loop?)");
            }
            if ((flags & F_INDIRECT) != 0) {
                if (inIndirect) {
                    throw new VirtioException("indirect descriptor inside an indirect table (head " + head + ")");
                }
                if (!indirectAllowed) {
                    throw new VirtioException("indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC (head " + head + ")");
                }
                if (index != head || (flags & F_NEXT) != 0) {
                    throw new VirtioException("indirect descriptor must be the only one in its chain (head " + head + ")");
                }
                long tableLength = Integer.toUnsignedLong(length);
                if (tableLength == 0 || tableLength % DESCRIPTOR_SIZE != 0 || tableLength / DESCRIPTOR_SIZE > MAX_SIZE) {
                    throw new VirtioException("indirect table of " + tableLength + " bytes is not 1.." + MAX_SIZE + " descriptors");
                }
                table = ring(memory, "indirect table", address, 1, tableLength);
                tableSize = (int) (tableLength / DESCRIPTOR_SIZE);
                index = 0;
                visited = 0;
                inIndirect = true;
                continue;
            }
            boolean deviceWritable = (flags & F_WRITE) != 0;
            if (length == 0) {
                throw new VirtioException("zero-length buffer in chain from head " + head);
            }
            long unsignedLength = Integer.toUnsignedLong(length);
            if (unsignedLength > Integer.MAX_VALUE || !memory.isRam(address, unsignedLength)) {
                throw new VirtioException("buffer at 0x" + Long.toHexString(address) + " (" + unsignedLength
                        + " bytes) in chain from head " + head + " is outside guest RAM");
            }
            if (!deviceWritable && !writable.isEmpty()) {
                throw new VirtioException("device-readable buffer after a device-writable one in chain from head " + head);
            }
            Descriptor descriptor = new Descriptor(address, length, deviceWritable, memory.slice(address, unsignedLength));
            (deviceWritable ? writable : readable).add(descriptor);
            if ((flags & F_NEXT) == 0) {
                return new DescriptorChain(head, readable, writable);
            }
            if (next >= tableSize) {
                throw new VirtioException("next descriptor " + next + " is outside a table of " + tableSize + " (head " + head + ")");
            }
            index = next;
        }
    }

    /**
     * Returns chain {@code head} to the driver with {@code written} bytes written into its
     * device-writable buffers.
     */
    public void addUsed(int head, int written) {
        requireActive();
        int slot = Short.toUnsignedInt(nextUsed) % size;
        usedRing.set(U32, 4 + 8L * slot, head);
        usedRing.set(U32, 8 + 8L * slot, written);
        nextUsed++;
        // The element must be visible before the index that publishes it.
        VarHandle.releaseFence();
        usedRing.set(U16, 2, nextUsed);
    }

    /**
     * Whether the driver wants an interrupt for what was added since the last call: its
     * used_event (EVENT_IDX) or the NO_INTERRUPT flag decides.
     */
    public boolean needsInterrupt() {
        requireActive();
        // Our used index store must be ordered before reading what the driver asked for.
        VarHandle.fullFence();
        short old = signalledUsed;
        short now = nextUsed;
        signalledUsed = now;
        if (eventIndex) {
            short usedEvent = availableRing.get(U16, 4 + 2L * size);
            // vring_need_event: did the index move past used_event in this batch?
            return Short.toUnsignedInt((short) (now - usedEvent - 1)) < Short.toUnsignedInt((short) (now - old));
        }
        return (availableRing.get(U16, 0) & AVAIL_F_NO_INTERRUPT) == 0;
    }

    /**
     * Asks the driver not to kick while the device is already working through the queue
     * (without EVENT_IDX, the used ring's NO_NOTIFY flag; with it, nothing: the event index
     * already says where the device is).
     */
    public void disableNotification() {
        requireActive();
        if (!eventIndex) {
            usedRing.set(U16, 0, (short) USED_F_NO_NOTIFY);
        }
    }

    /**
     * Asks for kicks again. Returns true if the driver made more chains available meanwhile:
     * the caller must then go on popping, since that kick may have been suppressed.
     */
    public boolean enableNotification() {
        requireActive();
        if (eventIndex) {
            publishAvailableEvent();
        } else {
            usedRing.set(U16, 0, (short) 0);
        }
        VarHandle.fullFence();
        return availableRing.get(U16, 2) != nextAvailable;
    }

    private void publishAvailableEvent() {
        usedRing.set(U16, 4 + 8L * size, nextAvailable);
    }

    /** The next available-ring position to read, for snapshots and tests. */
    public int nextAvailable() {
        return Short.toUnsignedInt(nextAvailable);
    }

    public int nextUsed() {
        return Short.toUnsignedInt(nextUsed);
    }

    private void requireActive() {
        if (memory == null) {
            throw new IllegalStateException("queue is not active");
        }
    }
}
