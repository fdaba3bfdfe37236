package dev.jvirt.virtio;

/** Device-independent feature bits (virtio 1.2, section 6) and the device status bits (2.1). */
public final class VirtioFeatures {

    public static final int RING_INDIRECT_DESC = 28;
    public static final int RING_EVENT_IDX = 29;
    public static final int VERSION_1 = 32;
    public static final int ACCESS_PLATFORM = 33;

    public static final int STATUS_ACKNOWLEDGE = 1;
    public static final int STATUS_DRIVER = 2;
    public static final int STATUS_DRIVER_OK = 4;
    public static final int STATUS_FEATURES_OK = 8;
    public static final int STATUS_NEEDS_RESET = 0x40;
    public static final int STATUS_FAILED = 0x80;

    public static long bit(int feature) {
        return 1L << feature;
    }

    private VirtioFeatures() {
    }
}
