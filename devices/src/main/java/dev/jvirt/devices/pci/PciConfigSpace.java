package dev.jvirt.devices.pci;

/**
 * 256 bytes of PCI configuration space with a per-byte write mask, so read-only registers stay
 * read-only whatever the guest writes, and the BAR sizing protocol works: a BAR's low bits are
 * not writable, so writing all ones reads back the size mask.
 */
public final class PciConfigSpace {

    public static final int VENDOR_ID = 0x00, DEVICE_ID = 0x02, COMMAND = 0x04, STATUS = 0x06;
    public static final int REVISION = 0x08, CLASS_PROG = 0x09, SUBCLASS = 0x0A, CLASS = 0x0B;
    public static final int HEADER_TYPE = 0x0E, BAR0 = 0x10, SUBSYSTEM_VENDOR_ID = 0x2C, SUBSYSTEM_ID = 0x2E;
    public static final int CAPABILITIES_POINTER = 0x34, INTERRUPT_LINE = 0x3C, INTERRUPT_PIN = 0x3D;

    private final byte[] bytes = new byte[256];
    private final byte[] writable = new byte[256];

    public PciConfigSpace(int vendorId, int deviceId, int classCode, int subclass, int progIf, int revision) {
        set16(VENDOR_ID, vendorId);
        set16(DEVICE_ID, deviceId);
        bytes[REVISION] = (byte) revision;
        bytes[CLASS_PROG] = (byte) progIf;
        bytes[SUBCLASS] = (byte) subclass;
        bytes[CLASS] = (byte) classCode;
        setWritable(COMMAND, 2, 0x0407);      // I/O, memory, bus master, interrupt disable
        setWritable(INTERRUPT_LINE, 1, 0xFF); // firmware/OS scratch
    }

    /** Sets a read-only field's value (the device's own identity and state). */
    public synchronized void set8(int offset, int value) {
        bytes[offset] = (byte) value;
    }

    public synchronized void set16(int offset, int value) {
        bytes[offset] = (byte) value;
        bytes[offset + 1] = (byte) (value >> 8);
    }

    public synchronized void set32(int offset, int value) {
        set16(offset, value);
        set16(offset + 2, value >>> 16);
    }

    /** Makes {@code length} bytes at {@code offset} writable by the guest under {@code mask}. */
    public synchronized void setWritable(int offset, int length, long mask) {
        for (int i = 0; i < length; i++) {
            writable[offset + i] = (byte) (mask >>> (8 * i));
        }
    }

    /** Declares a 32-bit memory BAR of {@code size} bytes (a power of two). */
    public synchronized void declareMemoryBar(int index, int size) {
        if (Integer.bitCount(size) != 1 || size < 16) {
            throw new IllegalArgumentException("BAR size must be a power of two >= 16: " + size);
        }
        int offset = BAR0 + 4 * index;
        set32(offset, 0);
        setWritable(offset, 4, ~(size - 1) & 0xFFFF_FFF0L);
    }

    public synchronized int read(int offset, int size) {
        if (offset < 0 || size < 1 || size > 4 || offset + size > bytes.length) {
            return -1;
        }
        int value = 0;
        for (int i = size - 1; i >= 0; i--) {
            value = (value << 8) | (bytes[offset + i] & 0xFF);
        }
        return value;
    }

    public synchronized void write(int offset, int size, int value) {
        if (offset < 0 || size < 1 || size > 4 || offset + size > bytes.length) {
            return;
        }
        for (int i = 0; i < size; i++) {
            int mask = writable[offset + i] & 0xFF;
            int newByte = (value >>> (8 * i)) & 0xFF;
            bytes[offset + i] = (byte) ((bytes[offset + i] & ~mask) | (newByte & mask));
        }
    }
}
