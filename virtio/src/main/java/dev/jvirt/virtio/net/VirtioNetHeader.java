package dev.jvirt.virtio.net;

/**
 * struct virtio_net_hdr_v1 (virtio 1.2, section 5.1.6): the 12 bytes in front of every frame in
 * both directions once VIRTIO_F_VERSION_1 is negotiated, whether or not MRG_RXBUF is. All
 * multi-byte fields are little-endian.
 */
final class VirtioNetHeader {

    static final int SIZE = 12;

    static final int FLAGS = 0;
    static final int GSO_TYPE = 1;
    static final int HDR_LEN = 2;
    static final int GSO_SIZE = 4;
    static final int CSUM_START = 6;
    static final int CSUM_OFFSET = 8;
    static final int NUM_BUFFERS = 10;

    static final int F_NEEDS_CSUM = 1;
    static final int F_DATA_VALID = 2;

    static final int GSO_NONE = 0;
    static final int GSO_TCPV4 = 1;
    static final int GSO_UDP = 3;
    static final int GSO_TCPV6 = 4;
    static final int GSO_ECN = 0x80;

    /** Ethernet header plus an 802.1Q tag: what a frame adds to its MTU-sized payload. */
    static final int ETHERNET_OVERHEAD = 14 + 4;
    /** Linux's VIRTNET_MAX_PACKET_LEN payload: the largest GSO packet a TAP hands over. */
    static final int MAX_GSO_PACKET = 65535;

    private VirtioNetHeader() {
    }
}
