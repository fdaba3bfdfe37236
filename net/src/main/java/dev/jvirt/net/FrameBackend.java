package dev.jvirt.net;

import java.io.Closeable;
import java.io.IOException;

/**
 * Where a virtual NIC's frames go and come from. Every frame crosses this interface as a
 * 12-byte {@code virtio_net_hdr_v1} followed by the Ethernet frame (no FCS), the layout a
 * TAP with IFF_VNET_HDR reads and writes, so a virtio-net device hands guest buffers through
 * untouched.
 *
 * <p>One thread sends and one thread receives; {@link #wakeup()} may be called from any thread.
 */
public interface FrameBackend extends Closeable {

    /** Bytes of {@code virtio_net_hdr_v1} before every frame. */
    int VNET_HEADER_SIZE = 12;

    /** TUN_F_* offload bits (include/uapi/linux/if_tun.h). */
    int OFFLOAD_CSUM = 0x01;
    int OFFLOAD_TSO4 = 0x02;
    int OFFLOAD_TSO6 = 0x04;
    int OFFLOAD_TSO_ECN = 0x08;
    int OFFLOAD_UFO = 0x10;

    /**
     * The offloads this backend handles in both directions: it accepts frames whose header asks
     * for them (partial checksum, GSO of that type), and it can deliver such frames to a reader
     * that agreed to take them.
     */
    int supportedOffloads();

    /**
     * Which offloads the reader (the guest) takes from now on: only frames needing nothing
     * else are {@linkplain #receive received}. Bits outside {@link #supportedOffloads()} are
     * dropped; returns the bits in force.
     */
    int setOffloads(int offloads) throws IOException;

    /** The largest frame without GSO the backend delivers, in bytes of IP packet (its MTU). */
    int mtu();

    /**
     * Sends one frame: {@code packet} holds its header and then its bytes. A frame the host
     * refuses (bad header, interface down) is a {@link NetException}; it is lost, like a frame
     * on a wire.
     */
    void send(IoVector packet) throws IOException;

    /**
     * Moves the next waiting frame (header and bytes) into {@code buffer}. Returns its length,
     * or -1 if no frame is waiting; never blocks. A frame that does not fit is cut short and
     * the rest of it is lost: the result is then its full length or the buffer's length
     * (kernels differ), so a result equal to the buffer's length is a whole frame only if the
     * buffer had room for the largest one.
     */
    int receive(IoVector buffer) throws IOException;

    /** Blocks until a frame may be waiting or {@link #wakeup()} was called (since the last return). */
    void awaitReceive() throws IOException;

    /** Makes a current or the next {@link #awaitReceive()} return. */
    void wakeup();
}
