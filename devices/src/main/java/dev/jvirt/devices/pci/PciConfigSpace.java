package dev.jvirt.devices.pci;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * 256 bytes of type-0 PCI configuration space with a per-bit write mask, so read-only registers
 * stay read-only whatever the guest writes, and the BAR sizing protocol works: a BAR's low bits
 * are not writable, so writing all ones reads back the size mask. Devices (the host bridge,
 * virtio-pci) own one and answer {@link PciDevice#readConfig}/{@link PciDevice#writeConfig} from it.
 *
 * <p>The guest-facing {@link #read}/{@link #write} never throw; the device-facing setters throw
 * on offsets outside the 256 bytes, which would be a bug in the device.
 */
public final class PciConfigSpace {

    public static final int SIZE = 256;

    public static final int VENDOR_ID = 0x00, DEVICE_ID = 0x02, COMMAND = 0x04, STATUS = 0x06;
    public static final int REVISION = 0x08, CLASS_PROG = 0x09, SUBCLASS = 0x0A, CLASS = 0x0B;
    public static final int HEADER_TYPE = 0x0E, BAR0 = 0x10, SUBSYSTEM_VENDOR_ID = 0x2C, SUBSYSTEM_ID = 0x2E;
    public static final int CAPABILITIES_POINTER = 0x34, INTERRUPT_LINE = 0x3C, INTERRUPT_PIN = 0x3D;

    public static final int COMMAND_IO = 0x1, COMMAND_MEMORY = 0x2, COMMAND_BUS_MASTER = 0x4;
    public static final int COMMAND_INTX_DISABLE = 0x400;
    public static final int STATUS_CAPABILITIES = 0x10;

    private static final int FIRST_CAPABILITY = 0x40;

    private final byte[] bytes = new byte[SIZE];
    private final byte[] writable = new byte[SIZE];
    private final List<PciBar> bars = new ArrayList<>();
    private int lastCapability;
    private int nextFreeCapabilityOffset = FIRST_CAPABILITY;

    public PciConfigSpace(int vendorId, int deviceId, int classCode, int subclass, int progIf, int revision) {
        set16(VENDOR_ID, vendorId);
        set16(DEVICE_ID, deviceId);
        bytes[REVISION] = (byte) revision;
        bytes[CLASS_PROG] = (byte) progIf;
        bytes[SUBCLASS] = (byte) subclass;
        bytes[CLASS] = (byte) classCode;
        setWritable(COMMAND, 2, COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE);
        setWritable(INTERRUPT_LINE, 1, 0xFF); // firmware/OS scratch
    }

    /** Sets a field's value, writable by the guest or not (the device's identity and state). */
    public synchronized void set8(int offset, int value) {
        checkRange(offset, 1);
        bytes[offset] = (byte) value;
    }

    public synchronized void set16(int offset, int value) {
        checkRange(offset, 2);
        bytes[offset] = (byte) value;
        bytes[offset + 1] = (byte) (value >> 8);
    }

    public synchronized void set32(int offset, int value) {
        checkRange(offset, 4);
        for (int i = 0; i < 4; i++) {
            bytes[offset + i] = (byte) (value >>> (8 * i));
        }
    }

    /** Makes the bits of {@code mask} in {@code length} bytes at {@code offset} writable by the guest. */
    public synchronized void setWritable(int offset, int length, long mask) {
        checkRange(offset, length);
        for (int i = 0; i < length; i++) {
            writable[offset + i] = (byte) (mask >>> (8 * i));
        }
    }

    /** Declares a 32-bit, non-prefetchable memory BAR of {@code size} bytes (a power of two). */
    public void declareMemoryBar(int index, int size) {
        declareBar(new PciBar(index, PciBar.Kind.MEMORY32, size, false));
    }

    /** Declares a BAR: its type bits become read-only and its address bits below the size stay 0. */
    public synchronized void declareBar(PciBar bar) {
        Objects.requireNonNull(bar, "bar");
        for (PciBar other : bars) {
            int otherLast = other.index() + (other.kind() == PciBar.Kind.MEMORY64 ? 1 : 0);
            int last = bar.index() + (bar.kind() == PciBar.Kind.MEMORY64 ? 1 : 0);
            if (bar.index() <= otherLast && other.index() <= last) {
                throw new IllegalArgumentException("BAR " + bar.index() + " overlaps BAR " + other.index());
            }
        }
        int offset = BAR0 + 4 * bar.index();
        long addressMask = ~(bar.size() - 1);
        switch (bar.kind()) {
            case IO -> {
                set32(offset, 0x1);
                setWritable(offset, 4, addressMask & 0xFFFF_FFFCL);
            }
            case MEMORY32 -> {
                set32(offset, bar.prefetchable() ? 0x8 : 0);
                setWritable(offset, 4, addressMask & 0xFFFF_FFF0L);
            }
            case MEMORY64 -> {
                set32(offset, 0x4 | (bar.prefetchable() ? 0x8 : 0));
                setWritable(offset, 4, addressMask & 0xFFFF_FFF0L);
                set32(offset + 4, 0);
                setWritable(offset + 4, 4, addressMask >>> 32);
            }
        }
        bars.add(bar);
    }

    public synchronized List<PciBar> bars() {
        return List.copyOf(bars);
    }

    /** The address the guest programmed into a declared BAR, without the type bits (0 if none yet). */
    public synchronized long barAddress(int index) {
        for (PciBar bar : bars) {
            if (bar.index() == index) {
                int offset = BAR0 + 4 * index;
                long low = read(offset, 4) & 0xFFFF_FFFFL;
                return switch (bar.kind()) {
                    case IO -> low & ~0x3L;
                    case MEMORY32 -> low & ~0xFL;
                    case MEMORY64 -> (low & ~0xFL) | ((long) read(offset + 4, 4) << 32);
                };
            }
        }
        throw new IllegalArgumentException("BAR " + index + " was not declared");
    }

    /**
     * Appends a capability (id, then {@code body}) to the capability list and returns its offset;
     * its body is read-only unless the device makes parts writable with {@link #setWritable}.
     */
    public synchronized int addCapability(int id, byte[] body) {
        int offset = nextFreeCapabilityOffset;
        int length = 2 + body.length;
        if (offset + length > SIZE) {
            throw new IllegalStateException("no room for a " + length + "-byte capability at 0x" + Integer.toHexString(offset));
        }
        bytes[offset] = (byte) id;
        bytes[offset + 1] = 0;
        System.arraycopy(body, 0, bytes, offset + 2, body.length);
        if (lastCapability == 0) {
            bytes[CAPABILITIES_POINTER] = (byte) offset;
        } else {
            bytes[lastCapability + 1] = (byte) offset;
        }
        bytes[STATUS] |= STATUS_CAPABILITIES;
        lastCapability = offset;
        nextFreeCapabilityOffset = (offset + length + 3) & ~3; // capabilities are dword aligned
        return offset;
    }

    /** Guest read of {@code size} (1, 2 or 4) bytes; anything else reads as all ones. */
    public synchronized int read(int offset, int size) {
        if (!inRange(offset, size)) {
            return -1;
        }
        int value = 0;
        for (int i = size - 1; i >= 0; i--) {
            value = (value << 8) | (bytes[offset + i] & 0xFF);
        }
        return value;
    }

    /** Guest write: only writable bits change; anything out of range is ignored. */
    public synchronized void write(int offset, int size, int value) {
        if (!inRange(offset, size)) {
            return;
        }
        for (int i = 0; i < size; i++) {
            int mask = writable[offset + i] & 0xFF;
            int newByte = (value >>> (8 * i)) & 0xFF;
            bytes[offset + i] = (byte) ((bytes[offset + i] & ~mask) | (newByte & mask));
        }
    }

    /** The 256 bytes as they are now, for snapshots. */
    public synchronized byte[] snapshot() {
        return bytes.clone();
    }

    /** Puts back bytes from {@link #snapshot()}; masks and BAR declarations stay as the device made them. */
    public synchronized void restore(byte[] saved) {
        if (saved.length != SIZE) {
            throw new IllegalArgumentException("saved config space has " + saved.length + " bytes, not 256");
        }
        System.arraycopy(saved, 0, bytes, 0, SIZE);
    }

    private static boolean inRange(int offset, int size) {
        return (size == 1 || size == 2 || size == 4) && offset >= 0 && offset <= SIZE - size;
    }

    private static void checkRange(int offset, int length) {
        if (offset < 0 || length < 0 || offset > SIZE - length) {
            throw new IllegalArgumentException("config space offset 0x%x+%d is outside 256 bytes".formatted(offset, length));
        }
    }
}
