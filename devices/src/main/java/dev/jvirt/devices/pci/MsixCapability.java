package dev.jvirt.devices.pci;

/**
 * The MSI-X capability (id 0x11) in a device's config space, backed by an {@link MsixTable}.
 * Message Control lives in the table (a device thread reads the enable bit on every interrupt),
 * so config reads of those two bytes are answered from it and config writes forwarded to it;
 * the rest of the capability is plain read-only config space.
 */
public final class MsixCapability {

    public static final int ID = 0x11;

    private final MsixTable table;
    private final int offset;

    /**
     * Appends the capability to {@code space}: the table at {@code tableOffset} and the pending
     * bit array at {@code pbaOffset} (both 8-byte aligned) of the BARs given.
     */
    public MsixCapability(PciConfigSpace space, MsixTable table, int tableBar, int tableOffset, int pbaBar, int pbaOffset) {
        if ((tableOffset & 7) != 0 || (pbaOffset & 7) != 0 || tableBar < 0 || tableBar > 5 || pbaBar < 0 || pbaBar > 5) {
            throw new IllegalArgumentException("MSI-X table/PBA must be 8-byte aligned in BARs 0-5");
        }
        this.table = table;
        byte[] body = new byte[10];
        // body[0..1]: Message Control, answered from the table.
        putInt(body, 2, tableOffset | tableBar);
        putInt(body, 6, pbaOffset | pbaBar);
        this.offset = space.addCapability(ID, body);
    }

    private static void putInt(byte[] into, int at, int value) {
        for (int i = 0; i < 4; i++) {
            into[at + i] = (byte) (value >>> (8 * i));
        }
    }

    /** Where the capability starts in config space. */
    public int offset() {
        return offset;
    }

    /** Replaces the Message Control bytes in a config read of {@code size} bytes at {@code at}. */
    public int overlayRead(int at, int size, int value) {
        int control = table.messageControl();
        for (int i = 0; i < size; i++) {
            int field = at + i - (offset + 2);
            if (field == 0 || field == 1) {
                int b = (control >>> (8 * field)) & 0xFF;
                value = (value & ~(0xFF << (8 * i))) | (b << (8 * i));
            }
        }
        return value;
    }

    /** Forwards a config write that covers Message Control's upper byte (enable, function mask) to the table. */
    public void configWritten(int at, int size, int value) {
        int upper = offset + 3;
        if (at <= upper && upper < at + size) {
            int b = (value >>> (8 * (upper - at))) & 0xFF;
            table.writeMessageControl(b << 8);
        }
    }
}
