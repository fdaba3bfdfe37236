package dev.jvirt.virtio.net;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.net.MacAddress;
import dev.jvirt.net.NetException;
import dev.jvirt.net.Tap;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.DriverQueue.Buffer;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import static dev.jvirt.virtio.VirtioFeatures.bit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * virtio-net on a real TAP, the host's IP stack at the other end and the test as the guest
 * driver and its stack: our ARP request gets the host's reply into our receive buffers, and UDP
 * goes both ways (ours with a partial checksum the host finishes). Skipped without /dev/net/tun.
 */
class VirtioNetTapTest {

    private static final int QUEUE_SIZE = 16;
    private static final int BUFFER = 2048;

    private final Map<Integer, Long> rxBuffers = new HashMap<>();
    private final AtomicInteger resets = new AtomicInteger();

    @Test
    void guestTalksToTheHostThroughATap() throws Exception {
        Tap tap;
        try {
            tap = Tap.open(null);
        } catch (NetException e) {
            Assumptions.abort("no TAP devices here: " + e.getMessage());
            return;
        }
        int subnet = ThreadLocalRandom.current().nextInt(1, 255);
        byte[] hostIp = {(byte) 198, 18, (byte) subnet, 1};
        byte[] guestIp = {(byte) 198, 18, (byte) subnet, 2};
        MacAddress guestMac = MacAddress.random();
        try (tap; GuestMemory memory = TestMemory.allocate(4 << 20);
             DatagramSocket hostSocket = new DatagramSocket(null)) {
            try {
                Files.writeString(Path.of("/proc/sys/net/ipv6/conf", tap.name(), "disable_ipv6"), "1");
            } catch (IOException e) {
                // No IPv6, no neighbour discovery noise.
            }
            tap.setUp(true);
            run("ip", "addr", "add", "198.18." + subnet + ".1/24", "dev", tap.name());

            VirtioNet net = new VirtioNet(tap, VirtioNetOptions.of(guestMac).withQueueSize(QUEUE_SIZE));
            DriverQueue rx = new DriverQueue(memory, 0x10000, QUEUE_SIZE);
            DriverQueue tx = new DriverQueue(memory, 0x200000, QUEUE_SIZE);
            long features = bit(VirtioFeatures.VERSION_1) | bit(VirtioFeatures.RING_EVENT_IDX) | bit(VirtioNetFeatures.MAC)
                    | bit(VirtioNetFeatures.STATUS) | bit(VirtioNetFeatures.MRG_RXBUF) | bit(VirtioNetFeatures.CSUM);
            net.activate(new DeviceContext(memory, features, List.of(rx.deviceQueue(QUEUE_SIZE), tx.deviceQueue(QUEUE_SIZE)),
                    new VirtioInterrupts() {
                        @Override
                        public void usedBuffers(int queue) {
                        }

                        @Override
                        public void configChanged() {
                        }
                    }, resets::incrementAndGet));
            try {
                for (int i = 0; i < QUEUE_SIZE; i++) {
                    long address = rx.allocate(BUFFER);
                    rxBuffers.put(rx.addChain(List.of(Buffer.writable(address, BUFFER))), address);
                }
                net.queueNotify(VirtioNet.RX_QUEUE);

                // Who has the host's address? The reply comes to our MAC.
                transmit(net, tx, memory, 0, arpRequest(guestMac.octets(), guestIp, hostIp));
                byte[] reply = receive(rx, memory, frame -> etherType(frame) == 0x0806 && u16(frame, 14 + 6) == 2);
                assertArrayEquals(guestMac.octets(), Arrays.copyOfRange(reply, 0, 6));
                assertArrayEquals(hostIp, Arrays.copyOfRange(reply, 14 + 14, 14 + 18));
                byte[] hostMac = Arrays.copyOfRange(reply, 14 + 8, 14 + 14);
                String tapMac = Files.readString(Path.of("/sys/class/net", tap.name(), "address")).strip();
                assertEquals(tapMac, MacAddress.of(hostMac).toString());

                // Host to guest: a datagram to the guest's address (the host learned our MAC from the request).
                hostSocket.bind(new InetSocketAddress(InetAddress.getByAddress(hostIp), 0));
                byte[] hello = "hello guest".getBytes(StandardCharsets.US_ASCII);
                hostSocket.send(new DatagramPacket(hello, hello.length, InetAddress.getByAddress(guestIp), 5000));
                byte[] datagram = receive(rx, memory, frame -> etherType(frame) == 0x0800 && frame[14 + 9] == 17);
                int udp = 14 + (datagram[14] & 0xF) * 4;
                assertEquals(5000, u16(datagram, udp + 2));
                assertEquals("hello guest", new String(datagram, udp + 8, u16(datagram, udp + 4) - 8, StandardCharsets.US_ASCII));

                // Guest to host: a datagram whose UDP checksum the host computes (NEEDS_CSUM).
                byte[] answer = "hello host".getBytes(StandardCharsets.US_ASCII);
                byte[] frame = udpFrame(guestMac.octets(), hostMac, guestIp, hostIp, 5000, hostSocket.getLocalPort(), answer);
                transmit(net, tx, memory, VirtioNetHeader.F_NEEDS_CSUM, frame);
                hostSocket.setSoTimeout(5000);
                DatagramPacket received = new DatagramPacket(new byte[100], 100);
                hostSocket.receive(received);
                assertEquals("hello host", new String(received.getData(), 0, received.getLength(), StandardCharsets.US_ASCII));
                assertArrayEquals(guestIp, received.getAddress().getAddress());
                assertEquals(0, resets.get());
                assertEquals(2, net.counters().txFrames());
            } finally {
                net.reset();
            }
        }
    }

    private static void transmit(VirtioNet net, DriverQueue tx, GuestMemory memory, int flags, byte[] frame) throws InterruptedException {
        byte[] header = new byte[12];
        header[0] = (byte) flags;
        if ((flags & VirtioNetHeader.F_NEEDS_CSUM) != 0) {
            int l4 = 14 + (frame[14] & 0xF) * 4;
            header[VirtioNetHeader.CSUM_START] = (byte) l4;
            header[VirtioNetHeader.CSUM_OFFSET] = 6;
        }
        long headerAddress = tx.allocate(header);
        long frameAddress = tx.allocate(frame);
        int before = tx.usedIndex();
        tx.addChain(List.of(Buffer.readable(headerAddress, 12), Buffer.readable(frameAddress, frame.length)));
        net.queueNotify(VirtioNet.TX_QUEUE);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (tx.usedIndex() == before) {
            assertTrue(System.nanoTime() < deadline, "transmit chain not used");
            Thread.sleep(2);
        }
    }

    /** The next received frame (without its header) that {@code wanted} accepts. */
    private byte[] receive(DriverQueue rx, GuestMemory memory, Predicate<byte[]> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            DriverQueue.Used used = rx.nextUsed();
            if (used == null) {
                Thread.sleep(2);
                continue;
            }
            byte[] packet = memory.read(rxBuffers.get(used.head()), used.length());
            assertEquals(1, u16le(packet, VirtioNetHeader.NUM_BUFFERS), "small frames take one buffer");
            byte[] frame = Arrays.copyOfRange(packet, 12, packet.length);
            if (frame.length >= 14 + 20 && wanted.test(frame)) {
                return frame;
            }
        }
        throw new AssertionError("the expected frame never reached the receive queue");
    }

    private static byte[] arpRequest(byte[] mac, byte[] ip, byte[] target) {
        byte[] frame = new byte[14 + 28];
        Arrays.fill(frame, 0, 6, (byte) 0xFF);
        System.arraycopy(mac, 0, frame, 6, 6);
        frame[12] = 0x08;
        frame[13] = 0x06;
        byte[] arp = {0, 1, 0x08, 0x00, 6, 4, 0, 1};
        System.arraycopy(arp, 0, frame, 14, arp.length);
        System.arraycopy(mac, 0, frame, 14 + 8, 6);
        System.arraycopy(ip, 0, frame, 14 + 14, 4);
        System.arraycopy(target, 0, frame, 14 + 24, 4);
        return frame;
    }

    /** An IPv4/UDP frame; the UDP checksum field holds the pseudo-header sum, as for a partial checksum. */
    private static byte[] udpFrame(byte[] srcMac, byte[] dstMac, byte[] srcIp, byte[] dstIp, int srcPort, int dstPort, byte[] payload) {
        int udpLength = 8 + payload.length;
        byte[] frame = new byte[14 + 20 + udpLength];
        System.arraycopy(dstMac, 0, frame, 0, 6);
        System.arraycopy(srcMac, 0, frame, 6, 6);
        frame[12] = 0x08;
        int ip = 14;
        frame[ip] = 0x45;
        putU16(frame, ip + 2, 20 + udpLength);
        frame[ip + 8] = 64;
        frame[ip + 9] = 17;
        System.arraycopy(srcIp, 0, frame, ip + 12, 4);
        System.arraycopy(dstIp, 0, frame, ip + 16, 4);
        putU16(frame, ip + 10, ~fold(sum(frame, ip, 20)) & 0xFFFF);
        int udp = ip + 20;
        putU16(frame, udp, srcPort);
        putU16(frame, udp + 2, dstPort);
        putU16(frame, udp + 4, udpLength);
        System.arraycopy(payload, 0, frame, udp + 8, payload.length);
        long pseudo = sum(srcIp, 0, 4) + sum(dstIp, 0, 4) + 17 + udpLength;
        putU16(frame, udp + 6, fold(pseudo));
        return frame;
    }

    private static long sum(byte[] bytes, int from, int length) {
        long sum = 0;
        for (int i = 0; i < length; i += 2) {
            sum += (bytes[from + i] & 0xFF) << 8 | (i + 1 < length ? bytes[from + i + 1] & 0xFF : 0);
        }
        return sum;
    }

    private static int fold(long sum) {
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) sum;
    }

    private static void putU16(byte[] bytes, int at, int value) {
        bytes[at] = (byte) (value >>> 8);
        bytes[at + 1] = (byte) value;
    }

    private static int etherType(byte[] frame) {
        return u16(frame, 12);
    }

    private static int u16(byte[] bytes, int at) {
        return (bytes[at] & 0xFF) << 8 | (bytes[at + 1] & 0xFF);
    }

    private static int u16le(byte[] bytes, int at) {
        return (bytes[at] & 0xFF) | (bytes[at + 1] & 0xFF) << 8;
    }

    private static void run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), String.join(" ", command) + ": " + output);
    }
}
