package dev.jvirt.virtio.net;

import dev.jvirt.net.FrameBackend;
import dev.jvirt.net.IoVector;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A backend in memory: frames the test injects wait until the device reads them, frames the
 * device sends are kept. It counts reads and waits, so a test can tell a device that sleeps
 * from one that spins. A frame too big for the buffer is cut and its full length returned, as
 * older Linux TAPs do, or the buffer's length, as newer ones do.
 */
final class FakeBackend implements FrameBackend {

    private final int offloads;
    private final int mtu;
    private final ArrayDeque<byte[]> incoming = new ArrayDeque<>();
    private final List<byte[]> sent = new ArrayList<>();
    private int receiveCalls;
    private int awaitCalls;
    private int offloadsInForce = -1;
    private boolean woken;
    /** Report a cut frame as the buffer's length (Linux 6.x TAPs) rather than its own. */
    private boolean cutReportsBufferLength;

    FakeBackend(int offloads, int mtu) {
        this.offloads = offloads;
        this.mtu = mtu;
    }

    FakeBackend() {
        this(OFFLOAD_CSUM | OFFLOAD_TSO4 | OFFLOAD_TSO6 | OFFLOAD_TSO_ECN, 1500);
    }

    /** Queues a packet (virtio-net header and frame) for the device to receive. */
    synchronized void inject(byte[] packet) {
        incoming.addLast(packet);
        notifyAll();
    }

    synchronized void cutReportsBufferLength(boolean value) {
        cutReportsBufferLength = value;
    }

    synchronized int waiting() {
        return incoming.size();
    }

    synchronized List<byte[]> sent() {
        return List.copyOf(sent);
    }

    synchronized int receiveCalls() {
        return receiveCalls;
    }

    synchronized int awaitCalls() {
        return awaitCalls;
    }

    synchronized int offloadsInForce() {
        return offloadsInForce;
    }

    /** Waits until the device sent {@code count} frames in all. */
    synchronized List<byte[]> awaitSent(int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (sent.size() < count) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                throw new AssertionError("the device sent " + sent.size() + " frames, not " + count);
            }
            wait(left);
        }
        return List.copyOf(sent);
    }

    @Override
    public int supportedOffloads() {
        return offloads;
    }

    @Override
    public synchronized int setOffloads(int requested) {
        offloadsInForce = requested & offloads;
        return offloadsInForce;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public synchronized void send(IoVector packet) {
        byte[] bytes = new byte[(int) packet.length()];
        packet.read(0, bytes, 0, bytes.length);
        sent.add(bytes);
        notifyAll();
    }

    @Override
    public synchronized int receive(IoVector buffer) {
        receiveCalls++;
        byte[] packet = incoming.pollFirst();
        if (packet == null) {
            return -1;
        }
        int copied = (int) Math.min(packet.length, buffer.length());
        buffer.write(0, packet, 0, copied);
        return cutReportsBufferLength ? copied : packet.length;
    }

    @Override
    public synchronized void awaitReceive() {
        awaitCalls++;
        while (incoming.isEmpty() && !woken) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        woken = false;
    }

    @Override
    public synchronized void wakeup() {
        woken = true;
        notifyAll();
    }

    @Override
    public void close() {
    }

    @Override
    public String toString() {
        return "fake backend";
    }
}
