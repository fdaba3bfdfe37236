package dev.jvirt.virtio.net;

import dev.jvirt.net.FrameBackend;
import dev.jvirt.net.IoVector;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.queue.Descriptor;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * The receive queue: frames come from the backend straight into the guest's buffers (one
 * readv over them), header included.
 *
 * <p>Before reading, the device holds enough popped buffers for the largest frame it may get,
 * so no frame is ever cut for want of room it could have had: with MRG_RXBUF as many chains as
 * that takes (a frame then spans several and num_buffers says how many), otherwise the next
 * chain. Chains a frame did not need stay held for the next one. When the driver has not
 * posted enough, nothing is read: frames wait in the backend until the driver kicks.
 */
final class RxPath {

    enum Result { DELIVERED, NO_FRAME, NO_BUFFERS }

    private final Virtqueue queue;
    private final FrameBackend backend;
    private final NetCounters counters;
    private final boolean mergeable;
    private final boolean guestChecksum;
    /** Header plus the largest frame the backend may deliver under the negotiated offloads. */
    private final long largestPacket;
    private final ArrayDeque<DescriptorChain> held = new ArrayDeque<>();
    private long heldBytes;
    private final IoVector vector = new IoVector();
    /**
     * Host memory after the guest's buffers in every read: a frame that spills into it did not
     * fit. Backends report a cut frame as its own length or as what fit (FrameBackend#receive),
     * so without it a frame cut to exactly the buffers' size would pass for a whole one.
     */
    private final MemorySegment overflow = Arena.ofAuto().allocate(64, 8);
    private long guestCapacity;
    private boolean vectorStale = true;
    private final byte[] header = new byte[VirtioNetHeader.SIZE];

    RxPath(Virtqueue queue, FrameBackend backend, NetCounters counters, boolean mergeable, boolean guestChecksum, long largestPacket) {
        this.queue = queue;
        this.backend = backend;
        this.counters = counters;
        this.mergeable = mergeable;
        this.guestChecksum = guestChecksum;
        this.largestPacket = largestPacket;
    }

    Virtqueue queue() {
        return queue;
    }

    /** Moves at most one frame from the backend to the guest. */
    Result receiveOne() throws VirtioException, IOException {
        if (!gatherBuffers()) {
            return Result.NO_BUFFERS;
        }
        if (vectorStale) {
            fillVector();
        }
        int length = backend.receive(vector);
        if (length < 0) {
            return Result.NO_FRAME;
        }
        deliver(length);
        return Result.DELIVERED;
    }

    /** Whether the held buffers are enough to read a frame into. */
    private boolean gatherBuffers() throws VirtioException {
        if (!mergeable) {
            if (held.isEmpty()) {
                DescriptorChain chain = queue.pop();
                if (chain == null) {
                    return false;
                }
                hold(chain);
            }
            return true;
        }
        while (heldBytes < largestPacket) {
            DescriptorChain chain = queue.pop();
            if (chain == null) {
                // A driver whose whole ring holds less than the largest frame cannot give more:
                // read into what it has (a frame too large for it is dropped, not waited for).
                return !held.isEmpty() && held.size() >= queue.size();
            }
            hold(chain);
        }
        return true;
    }

    private void hold(DescriptorChain chain) throws VirtioException {
        if (!chain.readable().isEmpty()) {
            throw new VirtioException("receive chain " + chain.head() + " has device-readable buffers");
        }
        if (chain.writableLength() < VirtioNetHeader.SIZE) {
            throw new VirtioException("receive chain " + chain.head() + " has " + chain.writableLength()
                    + " bytes, less than the " + VirtioNetHeader.SIZE + "-byte virtio-net header");
        }
        held.addLast(chain);
        heldBytes += chain.writableLength();
        vectorStale = true;
    }

    private void fillVector() {
        vector.clear();
        fill:
        for (DescriptorChain chain : held) {
            for (Descriptor descriptor : chain.writable()) {
                if (vector.count() == vector.capacity() - 1) {
                    break fill;
                }
                vector.add(descriptor.memory());
            }
            if (!mergeable || vector.length() >= largestPacket) {
                break;
            }
        }
        guestCapacity = vector.length();
        vector.add(overflow);
        vectorStale = false;
    }

    private void deliver(int length) {
        if (length > guestCapacity || length < VirtioNetHeader.SIZE) {
            // The held buffers were scribbled on but never returned: they serve the next frame.
            counters.rxDropped.incrementAndGet();
            return;
        }
        int buffers = 0;
        long left = length;
        for (DescriptorChain chain : held) {
            buffers++;
            left -= Math.min(left, chain.writableLength());
            if (left == 0) {
                break;
            }
        }
        // The vector starts with the first chain's buffers, which hold at least a header.
        vector.read(0, header, 0, VirtioNetHeader.SIZE);
        header[VirtioNetHeader.NUM_BUFFERS] = (byte) buffers;
        header[VirtioNetHeader.NUM_BUFFERS + 1] = (byte) (buffers >>> 8);
        if (!guestChecksum) {
            // DATA_VALID is only for a driver that negotiated VIRTIO_NET_F_GUEST_CSUM (5.1.6.4).
            header[VirtioNetHeader.FLAGS] &= (byte) ~VirtioNetHeader.F_DATA_VALID;
        }
        vector.write(0, header, 0, VirtioNetHeader.SIZE);
        left = length;
        for (int i = 0; i < buffers; i++) {
            DescriptorChain chain = held.pollFirst();
            int written = (int) Math.min(left, chain.writableLength());
            left -= written;
            heldBytes -= chain.writableLength();
            queue.addUsed(chain.head(), written);
        }
        vectorStale = true;
        counters.rxFrames.incrementAndGet();
        counters.rxBytes.addAndGet(length - VirtioNetHeader.SIZE);
    }
}
