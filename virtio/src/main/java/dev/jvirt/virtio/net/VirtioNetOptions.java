package dev.jvirt.virtio.net;

import dev.jvirt.net.MacAddress;

/**
 * How a virtio-net device is set up: the MAC the guest sees, an MTU to advertise (0: none, the
 * guest uses 1500), the largest queue size the driver may choose, and whether checksum and
 * segmentation offloads are offered at all (QEMU's csum=off/guest_csum=off in one switch).
 */
public record VirtioNetOptions(MacAddress mac, int mtu, int queueSize, boolean offloads) {

    public static final int DEFAULT_QUEUE_SIZE = 256;
    /** Linux virtio_net accepts MTUs of 68..65535 from the device. */
    public static final int MIN_MTU = 68;
    public static final int MAX_MTU = 65535;

    public VirtioNetOptions {
        if (mac == null) {
            throw new IllegalArgumentException("a virtio-net device needs a MAC address");
        }
        if (mac.isMulticast() || mac.isZero()) {
            throw new IllegalArgumentException("MAC address " + mac + " is not a unicast address");
        }
        if (mtu != 0 && (mtu < MIN_MTU || mtu > MAX_MTU)) {
            throw new IllegalArgumentException("MTU " + mtu + " is outside " + MIN_MTU + ".." + MAX_MTU);
        }
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("queue size " + queueSize + " is not a power of two in 2..32768");
        }
    }

    /** The MAC given, no MTU advertised, 256-entry queues, offloads on. */
    public static VirtioNetOptions of(MacAddress mac) {
        return new VirtioNetOptions(mac, 0, DEFAULT_QUEUE_SIZE, true);
    }

    public VirtioNetOptions withMtu(int mtu) {
        return new VirtioNetOptions(mac, mtu, queueSize, offloads);
    }

    public VirtioNetOptions withQueueSize(int queueSize) {
        return new VirtioNetOptions(mac, mtu, queueSize, offloads);
    }

    public VirtioNetOptions withOffloads(boolean offloads) {
        return new VirtioNetOptions(mac, mtu, queueSize, offloads);
    }
}
