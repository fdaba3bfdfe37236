package dev.jvirt.virtio;

/** Device IDs from the virtio 1.2 specification, section 5. */
public final class VirtioDeviceType {

    public static final int NET = 1;
    public static final int BLOCK = 2;
    public static final int CONSOLE = 3;
    public static final int ENTROPY = 4;
    public static final int BALLOON = 5;

    /** The modern virtio-pci device ID is 0x1040 plus the virtio device ID. */
    public static int pciDeviceId(int deviceType) {
        return 0x1040 + deviceType;
    }

    private VirtioDeviceType() {
    }
}
