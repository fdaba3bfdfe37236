package dev.jvirt.net;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real TAP interfaces on this host (skipped where /dev/net/tun cannot be opened). The host's
 * own IP stack plays the other end: it ARPs into the TAP, believes the reply we write, and then
 * sends its datagram to our MAC.
 */
class TapTest {

    private static final Path SYS_NET = Path.of("/sys/class/net");

    @BeforeAll
    static void tapsAvailable() {
        try {
            Tap.open(null).close();
        } catch (NetException e) {
            Assumptions.abort("no TAP devices here: " + e.getMessage());
        }
    }

    private static String uniqueName(String prefix) {
        return prefix + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xFFFFFF));
    }

    @Test
    void kernelNamesANewTapAndItGoesAwayOnClose() throws Exception {
        String name;
        try (Tap tap = Tap.open(null)) {
            name = tap.name();
            assertTrue(name.matches("tap\\d+"), name);
            assertTrue(Files.isDirectory(SYS_NET.resolve(name)));
            // tun_flags in sysfs: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.
            String flags = Files.readString(SYS_NET.resolve(name).resolve("tun_flags")).strip();
            assertEquals(0x5002, Integer.decode(flags) & 0x7003, flags);
        }
        assertFalse(Files.exists(SYS_NET.resolve(name)));
    }

    @Test
    void namedTapIsBusyWhileOpen() throws Exception {
        String name = uniqueName("jvt");
        try (Tap tap = Tap.open(name)) {
            assertEquals(name, tap.name());
            NetException e = assertThrows(NetException.class, () -> Tap.open(name));
            assertEquals("TUNSETIFF " + name + ": Device or resource busy", e.getMessage());
        }
    }

    @Test
    void badNamesAreRefusedBeforeTheKernelSeesThem() {
        for (String bad : new String[] {"a/b", "sixteen-chars-xx", "has space", ".."}) {
            NetException e = assertThrows(NetException.class, () -> Tap.open(bad));
            assertTrue(e.getMessage().contains("is not an interface name"), e.getMessage());
        }
    }

    @Test
    void linkGoesUpAndDown() throws Exception {
        try (Tap tap = Tap.open(null)) {
            assertFalse(tap.isUp());
            tap.setUp(true);
            assertTrue(tap.isUp());
            assertEquals(1, Integer.decode(Files.readString(SYS_NET.resolve(tap.name()).resolve("flags")).strip()) & 1);
            tap.setUp(false);
            assertFalse(tap.isUp());
            tap.setMtu(1400);
            assertEquals(1400, tap.mtu());
        }
    }

    @Test
    void offloadsNeedChecksumOffloadFirst() throws Exception {
        try (Tap tap = Tap.open(null)) {
            int basic = FrameBackend.OFFLOAD_CSUM | FrameBackend.OFFLOAD_TSO4 | FrameBackend.OFFLOAD_TSO6;
            assertEquals(basic, tap.supportedOffloads() & basic, "every vnet-header TAP does csum and TSO");
            assertEquals(basic, tap.setOffloads(basic | 0x4000_0000));
            assertEquals(basic, tap.offloads());
            assertEquals(0, tap.setOffloads(FrameBackend.OFFLOAD_TSO4));
        }
    }

    @Test
    void joinsABridge() throws Exception {
        String bridge = uniqueName("jvb");
        run("ip", "link", "add", bridge, "type", "bridge");
        try (Tap tap = Tap.open(null)) {
            tap.attachToBridge(bridge);
            Path master = SYS_NET.resolve(tap.name()).resolve("master");
            assertEquals(bridge, Files.readSymbolicLink(master).getFileName().toString());
            tap.detachFromBridge(bridge);
            assertFalse(Files.exists(master));

            NetException e = assertThrows(NetException.class, () -> tap.attachToBridge(bridge + "x"));
            assertEquals("adding " + tap.name() + " to bridge " + bridge + "x: No such device", e.getMessage());
        } finally {
            run("ip", "link", "del", bridge);
        }
    }

    @Test
    void aFrameTooBigForTheBufferIsCutAndTheNextOneIsWhole() throws Exception {
        try (Tap tap = Tap.open(null); Arena arena = Arena.ofConfined()) {
            int subnet = ThreadLocalRandom.current().nextInt(1, 255);
            tap.setUp(true);
            run("ip", "addr", "add", "198.19." + subnet + ".1/24", "dev", tap.name());
            sendDatagram("198.19." + subnet + ".2", "x");
            IoVector small = new IoVector(2);
            small.add(arena.allocate(10));
            small.add(arena.allocate(10));
            int length = receiveWithin(tap, small, 5000);
            // Kernels report either the whole frame's length or what fit; never less than what fit.
            assertTrue(length >= 20, "a frame with its header is longer than 20 bytes, got " + length);

            sendDatagram("198.19." + subnet + ".3", "y");
            MemorySegment big = arena.allocate(2048);
            IoVector whole = new IoVector(1);
            whole.add(big);
            int next = receiveWithin(tap, whole, 5000);
            assertTrue(next >= 12 + 14, "next frame: " + next);
            byte[] source = big.asSlice(12 + 6, 6).toArray(ValueLayout.JAVA_BYTE);
            String tapMac = Files.readString(SYS_NET.resolve(tap.name()).resolve("address")).strip();
            assertEquals(tapMac, MacAddress.of(source).toString(), "the next read starts at a frame, not inside the cut one");
        }
    }

    @Test
    void hostArpsThroughTheTapAndSendsToTheMacWeAnswerWith() throws Exception {
        MacAddress ours = MacAddress.random();
        int subnet = ThreadLocalRandom.current().nextInt(1, 255);
        byte[] hostIp = {(byte) 198, 18, (byte) subnet, 1};
        byte[] peerIp = {(byte) 198, 18, (byte) subnet, 2};
        try (Tap tap = Tap.open(null); Arena arena = Arena.ofConfined()) {
            disableIpv6(tap.name());
            tap.setUp(true);
            // The host may hand us partially checksummed UDP now: the header must say so.
            tap.setOffloads(FrameBackend.OFFLOAD_CSUM);
            run("ip", "addr", "add", "198.18." + subnet + ".1/24", "dev", tap.name());

            MemorySegment buffer = arena.allocate(2048);
            IoVector vector = new IoVector(1);
            vector.add(buffer);
            sendDatagram("198.18." + subnet + ".2", "hello jvirt");

            byte[] request = receiveMatching(tap, vector, buffer, frame ->
                    etherType(frame) == 0x0806 && u16(frame, 12 + 14 + 6) == 1
                            && Arrays.equals(Arrays.copyOfRange(frame, 12 + 14 + 24, 12 + 14 + 28), peerIp));
            assertEquals(0, request[0], "vnet header flags of a plain ARP frame");
            assertEquals(0, request[1], "vnet header gso_type of a plain ARP frame");
            byte[] hostMac = Arrays.copyOfRange(request, 12 + 6, 12 + 12);

            byte[] reply = arpReply(ours.octets(), peerIp, hostMac, hostIp);
            MemorySegment out = arena.allocate(reply.length);
            MemorySegment.copy(reply, 0, out, ValueLayout.JAVA_BYTE, 0, reply.length);
            IoVector outVector = new IoVector(2);
            outVector.add(out.asSlice(0, 20));
            outVector.add(out.asSlice(20));
            tap.send(outVector);

            byte[] datagram = receiveMatching(tap, vector, buffer, frame -> etherType(frame) == 0x0800 && frame[12 + 14 + 9] == 17);
            assertArrayEquals(ours.octets(), Arrays.copyOfRange(datagram, 12, 18), "sent to the MAC our ARP reply named");
            assertArrayEquals(peerIp, Arrays.copyOfRange(datagram, 12 + 14 + 16, 12 + 14 + 20));
            int udp = 12 + 14 + 20;
            assertEquals(9, u16(datagram, udp + 2));
            assertEquals("hello jvirt", new String(datagram, udp + 8, u16(datagram, udp + 4) - 8, StandardCharsets.US_ASCII));
            if ((datagram[0] & 1) != 0) {
                // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum starts at the UDP header, field at offset 6.
                assertEquals(14 + 20, u16le(datagram, 6));
                assertEquals(6, u16le(datagram, 8));
            }
            String neighbour = run("ip", "neigh", "show", "198.18." + subnet + ".2", "dev", tap.name());
            assertTrue(neighbour.contains(ours.toString()), neighbour);
        }
    }

    private static byte[] arpReply(byte[] ourMac, byte[] ourIp, byte[] hostMac, byte[] hostIp) {
        byte[] frame = new byte[12 + 14 + 28];
        int at = 12;
        System.arraycopy(hostMac, 0, frame, at, 6);
        System.arraycopy(ourMac, 0, frame, at + 6, 6);
        frame[at + 12] = 0x08;
        frame[at + 13] = 0x06;
        at += 14;
        byte[] arp = {0, 1, 0x08, 0x00, 6, 4, 0, 2};
        System.arraycopy(arp, 0, frame, at, arp.length);
        System.arraycopy(ourMac, 0, frame, at + 8, 6);
        System.arraycopy(ourIp, 0, frame, at + 14, 4);
        System.arraycopy(hostMac, 0, frame, at + 18, 6);
        System.arraycopy(hostIp, 0, frame, at + 24, 4);
        return frame;
    }

    private static byte[] receiveMatching(Tap tap, IoVector vector, MemorySegment buffer, Predicate<byte[]> wanted) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            int length = receiveWithin(tap, vector, 1000);
            if (length < 0) {
                continue;
            }
            byte[] frame = buffer.asSlice(0, Math.min(length, buffer.byteSize())).toArray(ValueLayout.JAVA_BYTE);
            if (frame.length >= 12 + 14 + 28 && wanted.test(frame)) {
                return frame;
            }
        }
        throw new AssertionError("the expected frame did not come out of the TAP");
    }

    private static int receiveWithin(Tap tap, IoVector vector, long millis) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (System.nanoTime() < deadline) {
            int length = tap.receive(vector);
            if (length >= 0) {
                return length;
            }
            Thread.sleep(5);
        }
        return -1;
    }

    private static int etherType(byte[] frame) {
        return u16(frame, 12 + 12);
    }

    private static int u16(byte[] bytes, int at) {
        return (bytes[at] & 0xFF) << 8 | (bytes[at + 1] & 0xFF);
    }

    private static int u16le(byte[] bytes, int at) {
        return (bytes[at] & 0xFF) | (bytes[at + 1] & 0xFF) << 8;
    }

    private static void sendDatagram(String address, String text) throws IOException {
        try (DatagramSocket socket = new DatagramSocket()) {
            byte[] data = text.getBytes(StandardCharsets.US_ASCII);
            socket.send(new DatagramPacket(data, data.length, InetAddress.getByName(address), 9));
        }
    }

    private static void disableIpv6(String name) {
        Path knob = Path.of("/proc/sys/net/ipv6/conf", name, "disable_ipv6");
        try {
            Files.writeString(knob, "1");
        } catch (IOException e) {
            // Without IPv6 there is no router solicitation noise to avoid anyway.
        }
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), String.join(" ", command) + ": " + output);
        assertNotNull(output);
        return output;
    }
}
