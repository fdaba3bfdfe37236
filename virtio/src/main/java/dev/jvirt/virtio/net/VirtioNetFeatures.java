package dev.jvirt.virtio.net;

/** virtio-net feature bits and status bits (virtio 1.2, section 5.1.3 and 5.1.4; linux/virtio_net.h). */
public final class VirtioNetFeatures {

    /** The device takes frames with a partial checksum (NEEDS_CSUM) from the driver. */
    public static final int CSUM = 0;
    /** The driver takes frames with a partial checksum from the device. */
    public static final int GUEST_CSUM = 1;
    public static final int CTRL_GUEST_OFFLOADS = 2;
    public static final int MTU = 3;
    public static final int MAC = 5;
    public static final int GUEST_TSO4 = 7;
    public static final int GUEST_TSO6 = 8;
    public static final int GUEST_ECN = 9;
    public static final int GUEST_UFO = 10;
    public static final int HOST_TSO4 = 11;
    public static final int HOST_TSO6 = 12;
    public static final int HOST_ECN = 13;
    public static final int HOST_UFO = 14;
    /** The driver posts receive buffers that one frame may span (num_buffers in the header). */
    public static final int MRG_RXBUF = 15;
    public static final int STATUS = 16;
    public static final int CTRL_VQ = 17;
    public static final int MQ = 22;

    /** Config status: the link is up. */
    public static final int S_LINK_UP = 1;
    public static final int S_ANNOUNCE = 2;

    private VirtioNetFeatures() {
    }
}
