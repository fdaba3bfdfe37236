package dev.jvirt.virtio.net;

import dev.jvirt.net.FrameBackend;
import dev.jvirt.net.IoVector;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.queue.Descriptor;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.BooleanSupplier;

/**
 * The transmit queue: each chain is a virtio_net_hdr_v1 and one frame, in device-readable
 * buffers only. The header is copied to device memory and checked there (the guest may change
 * its copy at any time); the frame goes to the backend straight from guest RAM.
 *
 * <p>A chain that breaks the layout (writable buffers, less than a header) is a driver bug and
 * a {@link VirtioException}; a frame the device will not send (an offload it did not offer, an
 * oversized frame, link down, backend refusal) is dropped and counted, as a NIC would.
 */
final class TxPath {

    private static final System.Logger LOG = System.getLogger(TxPath.class.getName());

    /** The largest frame a driver may hand over: a GSO packet with its Ethernet and VLAN headers. */
    static final long MAX_FRAME = VirtioNetHeader.MAX_GSO_PACKET + VirtioNetHeader.ETHERNET_OVERHEAD;
    static final int MIN_FRAME = 14;

    private final Virtqueue queue;
    private final FrameBackend backend;
    private final DeviceContext context;
    private final NetCounters counters;
    private final BooleanSupplier linkUp;
    private final IoVector vector = new IoVector();
    private final MemorySegment header = Arena.ofAuto().allocate(VirtioNetHeader.SIZE, 8);
    private final byte[] headerBytes = new byte[VirtioNetHeader.SIZE];
    private boolean loggedDrop;
    private boolean loggedError;

    TxPath(Virtqueue queue, FrameBackend backend, DeviceContext context, NetCounters counters, BooleanSupplier linkUp) {
        this.queue = queue;
        this.backend = backend;
        this.context = context;
        this.counters = counters;
        this.linkUp = linkUp;
    }

    Virtqueue queue() {
        return queue;
    }

    /** Sends every chain the driver made available; returns whether any went back used. */
    boolean drain() throws VirtioException {
        boolean used = false;
        DescriptorChain chain;
        while ((chain = queue.pop()) != null) {
            transmit(chain);
            // Transmit buffers carry nothing back: the used length is 0.
            queue.addUsed(chain.head(), 0);
            used = true;
        }
        return used;
    }

    private void transmit(DescriptorChain chain) throws VirtioException {
        if (!chain.writable().isEmpty()) {
            throw new VirtioException("transmit chain " + chain.head() + " has device-writable buffers");
        }
        long length = chain.readableLength();
        if (length < VirtioNetHeader.SIZE) {
            throw new VirtioException("transmit chain " + chain.head() + " has " + length
                    + " bytes, less than the " + VirtioNetHeader.SIZE + "-byte virtio-net header");
        }
        long frame = length - VirtioNetHeader.SIZE;
        if (frame < MIN_FRAME || frame > MAX_FRAME) {
            drop(chain, "a " + frame + "-byte frame is outside " + MIN_FRAME + ".." + MAX_FRAME);
            return;
        }
        chain.read(0, headerBytes, 0, VirtioNetHeader.SIZE);
        String refused = checkHeader();
        if (refused != null) {
            drop(chain, refused);
            return;
        }
        if (!linkUp.getAsBoolean()) {
            counters.txDropped.incrementAndGet();
            return;
        }
        // num_buffers means nothing on transmit; the backend gets zeros, not guest bytes.
        headerBytes[VirtioNetHeader.NUM_BUFFERS] = 0;
        headerBytes[VirtioNetHeader.NUM_BUFFERS + 1] = 0;
        MemorySegment.copy(headerBytes, 0, header, ValueLayout.JAVA_BYTE, 0, VirtioNetHeader.SIZE);
        vector.clear();
        vector.add(header);
        long skip = VirtioNetHeader.SIZE;
        for (Descriptor descriptor : chain.readable()) {
            if (skip >= descriptor.length()) {
                skip -= descriptor.length();
                continue;
            }
            MemorySegment piece = skip == 0 ? descriptor.memory() : descriptor.memory().asSlice(skip);
            skip = 0;
            if (!vector.add(piece)) {
                drop(chain, "more than " + (IoVector.MAX_ENTRIES - 1) + " buffers in one frame");
                return;
            }
        }
        try {
            backend.send(vector);
            counters.txFrames.incrementAndGet();
            counters.txBytes.addAndGet(frame);
        } catch (IOException e) {
            counters.txErrors.incrementAndGet();
            if (!loggedError) {
                loggedError = true;
                LOG.log(System.Logger.Level.WARNING, "virtio-net: " + backend + " refused a frame (further ones counted only): " + e.getMessage());
            }
        } finally {
            vector.clear();
        }
    }

    /** Why the header asks for something this device did not offer, or null if it is fine. */
    private String checkHeader() {
        int flags = headerBytes[VirtioNetHeader.FLAGS] & 0xFF;
        int gso = headerBytes[VirtioNetHeader.GSO_TYPE] & 0xFF;
        if ((flags & ~VirtioNetHeader.F_NEEDS_CSUM) != 0) {
            return "header flags 0x" + Integer.toHexString(flags) + " (only NEEDS_CSUM is valid on transmit)";
        }
        if ((flags & VirtioNetHeader.F_NEEDS_CSUM) != 0 && !context.hasFeature(VirtioNetFeatures.CSUM)) {
            return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
        }
        int type = gso & ~VirtioNetHeader.GSO_ECN;
        int needed = switch (type) {
            case VirtioNetHeader.GSO_NONE -> -1;
            case VirtioNetHeader.GSO_TCPV4 -> VirtioNetFeatures.HOST_TSO4;
            case VirtioNetHeader.GSO_TCPV6 -> VirtioNetFeatures.HOST_TSO6;
            case VirtioNetHeader.GSO_UDP -> VirtioNetFeatures.HOST_UFO;
            default -> -2;
        };
        if (needed == -2) {
            return "unknown gso_type 0x" + Integer.toHexString(gso);
        }
        if (needed >= 0 && !context.hasFeature(needed)) {
            return "gso_type 0x" + Integer.toHexString(gso) + " without feature bit " + needed;
        }
        if ((gso & VirtioNetHeader.GSO_ECN) != 0 && (type == VirtioNetHeader.GSO_NONE || !context.hasFeature(VirtioNetFeatures.HOST_ECN))) {
            return "GSO_ECN without VIRTIO_NET_F_HOST_ECN and a GSO type";
        }
        return null;
    }

    private void drop(DescriptorChain chain, String why) {
        counters.txDropped.incrementAndGet();
        if (!loggedDrop) {
            loggedDrop = true;
            LOG.log(System.Logger.Level.WARNING, "virtio-net: dropped transmit chain " + chain.head() + ": " + why
                    + " (further drops counted only)");
        }
    }
}
