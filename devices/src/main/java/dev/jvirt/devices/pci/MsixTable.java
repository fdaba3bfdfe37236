package dev.jvirt.devices.pci;

import java.util.Arrays;

/**
 * The MSI-X table and pending bit array (PCI Local Bus 3.0, section 6.8.2) as the device sees
 * them, plus the enable and function-mask bits of the capability's Message Control.
 *
 * <p>Each entry is 16 bytes: message address low and high, message data, vector control (bit 0
 * masks the vector). A vector that fires while masked, or while the whole function is masked,
 * sets its pending bit; unmasking delivers it and clears the bit. The guest may read and write
 * the table at any offset and width (Linux uses 4 bytes, some drivers 8): accesses are taken
 * apart byte by byte, so no value can reach outside the table.
 *
 * <p>{@link MsiVector}s are allocated the first time an entry is delivered and programmed just
 * before a delivery that follows a change: the guest writes an entry one dword at a time (while
 * masked), so programming at each write would make the machine reroute half-written messages.
 *
 * <p>One small lock guards the table: vCPU threads write it, device threads {@link #fire} it.
 */
public final class MsixTable {

    public static final int ENTRY_SIZE = 16;
    /** The capability's table-size field has 11 bits. */
    public static final int MAX_ENTRIES = 2048;

    public static final int CONTROL_FUNCTION_MASK = 1 << 14;
    public static final int CONTROL_ENABLE = 1 << 15;

    private static final int VECTOR_CONTROL_MASKED = 1;

    private final int size;
    private final MsiVectorAllocator allocator;
    private final int[] addressLow;
    private final int[] addressHigh;
    private final int[] data;
    private final int[] vectorControl;
    private final long[] pending;
    private final MsiVector[] vectors;
    /** The entry changed since its vector was last programmed. */
    private final boolean[] stale;
    private boolean enabled;
    private boolean functionMasked;

    public MsixTable(int size, MsiVectorAllocator allocator) {
        if (size < 1 || size > MAX_ENTRIES) {
            throw new IllegalArgumentException("MSI-X table size " + size + " is outside 1.." + MAX_ENTRIES);
        }
        this.size = size;
        this.allocator = allocator;
        this.addressLow = new int[size];
        this.addressHigh = new int[size];
        this.data = new int[size];
        this.vectorControl = new int[size];
        this.pending = new long[(size + 63) / 64];
        this.vectors = new MsiVector[size];
        this.stale = new boolean[size];
        Arrays.fill(vectorControl, VECTOR_CONTROL_MASKED);
    }

    public int size() {
        return size;
    }

    /** Bytes of the table region (what a BAR must hold at the table offset). */
    public int tableBytes() {
        return size * ENTRY_SIZE;
    }

    /** Bytes of the pending bit array: whole qwords, as the specification lays it out. */
    public int pbaBytes() {
        return pending.length * 8;
    }

    /** Message Control as the guest reads it: enable, function mask, and the read-only table size minus one. */
    public synchronized int messageControl() {
        return (enabled ? CONTROL_ENABLE : 0) | (functionMasked ? CONTROL_FUNCTION_MASK : 0) | (size - 1);
    }

    /** The guest wrote Message Control; only the enable and function-mask bits are writable. */
    public synchronized void writeMessageControl(int value) {
        boolean wasDeliverable = enabled && !functionMasked;
        enabled = (value & CONTROL_ENABLE) != 0;
        functionMasked = (value & CONTROL_FUNCTION_MASK) != 0;
        if (!wasDeliverable && enabled && !functionMasked) {
            for (int vector = 0; vector < size; vector++) {
                deliverPending(vector);
            }
        }
    }

    public synchronized boolean isEnabled() {
        return enabled;
    }

    public synchronized boolean isFunctionMasked() {
        return functionMasked;
    }

    public synchronized boolean isMasked(int vector) {
        return vector >= 0 && vector < size && (vectorControl[vector] & VECTOR_CONTROL_MASKED) != 0;
    }

    public synchronized boolean isPending(int vector) {
        return vector >= 0 && vector < size && (pending[vector >>> 6] & (1L << vector)) != 0;
    }

    /**
     * Signals {@code vector}. Returns false when MSI-X is disabled: the caller then uses its INTx
     * line. When enabled, a vector outside the table is dropped (virtio's NO_VECTOR means exactly
     * that), a masked one becomes pending, and an unmasked one is delivered.
     */
    public synchronized boolean fire(int vector) {
        if (!enabled) {
            return false;
        }
        if (vector < 0 || vector >= size) {
            return true;
        }
        if (functionMasked || (vectorControl[vector] & VECTOR_CONTROL_MASKED) != 0) {
            pending[vector >>> 6] |= 1L << vector;
        } else {
            deliver(vector);
        }
        return true;
    }

    /** Guest read of the table region; bytes outside the table read as zero. */
    public synchronized long readTable(long offset, int length) {
        if (length < 1 || length > 8) {
            return 0;
        }
        long value = 0;
        for (int i = length - 1; i >= 0; i--) {
            value = (value << 8) | tableByte(offset + i);
        }
        return value;
    }

    /** Guest write of the table region; bytes outside the table, and reserved vector-control bits, are ignored. */
    public synchronized void writeTable(long offset, int length, long value) {
        if (offset < 0 || length < 1 || length > 8 || offset >= tableBytes()) {
            return;
        }
        int first = (int) (offset / ENTRY_SIZE);
        int last = (int) Math.min(size - 1, (offset + length - 1) / ENTRY_SIZE);
        boolean[] wasMasked = new boolean[last - first + 1];
        for (int entry = first; entry <= last; entry++) {
            wasMasked[entry - first] = (vectorControl[entry] & VECTOR_CONTROL_MASKED) != 0;
        }
        for (int i = 0; i < length && offset + i < tableBytes(); i++) {
            setTableByte(offset + i, (int) (value >>> (8 * i)) & 0xFF);
        }
        for (int entry = first; entry <= last; entry++) {
            boolean masked = (vectorControl[entry] & VECTOR_CONTROL_MASKED) != 0;
            if (wasMasked[entry - first] && !masked && enabled && !functionMasked) {
                deliverPending(entry);
            }
        }
    }

    /** Guest read of the pending bit array; bytes outside it read as zero. */
    public synchronized long readPba(long offset, int length) {
        if (length < 1 || length > 8) {
            return 0;
        }
        long value = 0;
        for (int i = length - 1; i >= 0; i--) {
            long at = offset + i;
            int b = at >= 0 && at < pbaBytes() ? (int) (pending[(int) (at >>> 3)] >>> (8 * (at & 7))) & 0xFF : 0;
            value = (value << 8) | b;
        }
        return value;
    }

    /** The pending bit array is read-only; a guest write changes nothing. */
    public void writePba(long offset, int length, long value) {
    }

    /** Drops every pending message without delivering it (the device was reset and forgot what it had to say). */
    public synchronized void clearPending() {
        Arrays.fill(pending, 0);
    }

    /** Function reset: MSI-X disabled, every entry masked and cleared, nothing pending, vectors closed. */
    public synchronized void reset() {
        enabled = false;
        functionMasked = false;
        Arrays.fill(addressLow, 0);
        Arrays.fill(addressHigh, 0);
        Arrays.fill(data, 0);
        Arrays.fill(vectorControl, VECTOR_CONTROL_MASKED);
        Arrays.fill(pending, 0);
        Arrays.fill(stale, false);
        for (int i = 0; i < size; i++) {
            if (vectors[i] != null) {
                vectors[i].close();
                vectors[i] = null;
            }
        }
    }

    private int tableByte(long at) {
        if (at < 0 || at >= tableBytes()) {
            return 0;
        }
        int entry = (int) (at / ENTRY_SIZE);
        int field = (int) (at % ENTRY_SIZE);
        int word = switch (field >>> 2) {
            case 0 -> addressLow[entry];
            case 1 -> addressHigh[entry];
            case 2 -> data[entry];
            default -> vectorControl[entry];
        };
        return (word >>> (8 * (field & 3))) & 0xFF;
    }

    private void setTableByte(long at, int b) {
        int entry = (int) (at / ENTRY_SIZE);
        int field = (int) (at % ENTRY_SIZE);
        int shift = 8 * (field & 3);
        int keep = ~(0xFF << shift);
        switch (field >>> 2) {
            // The address is dword aligned: its low two bits are read-only zero.
            case 0 -> addressLow[entry] = ((addressLow[entry] & keep) | (b << shift)) & ~3;
            case 1 -> addressHigh[entry] = (addressHigh[entry] & keep) | (b << shift);
            case 2 -> data[entry] = (data[entry] & keep) | (b << shift);
            default -> {
                if (shift == 0) {
                    vectorControl[entry] = b & VECTOR_CONTROL_MASKED;
                }
                return; // the mask bit does not change the message
            }
        }
        stale[entry] = true;
    }

    private void deliverPending(int vector) {
        long bit = 1L << vector;
        if ((pending[vector >>> 6] & bit) != 0 && (vectorControl[vector] & VECTOR_CONTROL_MASKED) == 0) {
            pending[vector >>> 6] &= ~bit;
            deliver(vector);
        }
    }

    private void deliver(int vector) {
        MsiVector msi = vectors[vector];
        if (msi == null) {
            msi = allocator.allocate();
            vectors[vector] = msi;
            stale[vector] = true;
        }
        if (stale[vector]) {
            msi.program((Integer.toUnsignedLong(addressHigh[vector]) << 32) | Integer.toUnsignedLong(addressLow[vector]), data[vector]);
            stale[vector] = false;
        }
        msi.trigger();
    }
}
