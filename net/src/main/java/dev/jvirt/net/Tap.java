package dev.jvirt.net;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A Linux TAP interface (Documentation/networking/tuntap.rst) opened with IFF_NO_PI and
 * IFF_VNET_HDR, so every frame read or written carries a 12-byte virtio_net_hdr_v1 in front and
 * a guest's buffers go to the kernel as they are. The file descriptor is non-blocking; a reader
 * waits in {@link #awaitReceive()} (poll on the TAP and an eventfd that {@link #wakeup()} signals).
 *
 * <p>A TAP opened here without a name, or with a name that did not exist, disappears on
 * {@link #close()}; a persistent one made by {@code ip tuntap add} stays.
 */
public final class Tap implements FrameBackend {

    public static final String CLONE_DEVICE = "/dev/net/tun";

    /** Interface names are at most IFNAMSIZ - 1 bytes. */
    public static final int MAX_NAME_LENGTH = 15;

    // _IOW('T', n, int) and friends from include/uapi/linux/if_tun.h.
    static final long TUNSETIFF = 0x400454caL;
    static final long TUNSETOFFLOAD = 0x400454d0L;
    static final long TUNSETVNETHDRSZ = 0x400454d8L;
    static final long TUNGETVNETHDRSZ = 0x800454d7L;
    static final short IFF_TAP = 0x0002;
    static final short IFF_NO_PI = 0x1000;
    static final short IFF_VNET_HDR = 0x4000;

    // include/uapi/linux/sockios.h
    static final long SIOCGIFFLAGS = 0x8913;
    static final long SIOCSIFFLAGS = 0x8914;
    static final long SIOCGIFMTU = 0x8921;
    static final long SIOCSIFMTU = 0x8922;
    static final long SIOCGIFINDEX = 0x8933;
    static final long SIOCBRADDIF = 0x89a2;
    static final long SIOCBRDELIF = 0x89a3;
    static final short IFF_UP = 0x1;

    /** struct ifreq: 16 bytes of name, then a 24-byte union (flags, ifindex, mtu at offset 16). */
    private static final long IFREQ_SIZE = 40;
    private static final long IFREQ_UNION = 16;

    private static final int[] PROBED_OFFLOADS = {OFFLOAD_TSO4, OFFLOAD_TSO6, OFFLOAD_TSO_ECN, OFFLOAD_UFO};

    private final String name;
    private final int fd;
    private final int wakeFd;
    private final int supportedOffloads;
    private volatile int offloads;
    private volatile boolean closed;

    /** Scratch for the receiving thread: two pollfds and the eventfd counter it drains. */
    private final MemorySegment receivePoll;
    private final MemorySegment receiveDrain;
    /** Scratch for the sending thread: one pollfd for waiting until the TAP takes a frame. */
    private final MemorySegment sendPoll;

    private Tap(String name, int fd, int wakeFd, int supportedOffloads) {
        this.name = name;
        this.fd = fd;
        this.wakeFd = wakeFd;
        this.supportedOffloads = supportedOffloads;
        Arena arena = Arena.ofAuto();
        this.receivePoll = arena.allocate(2 * NetLibc.POLLFD_SIZE, 8);
        this.receiveDrain = arena.allocate(8, 8);
        this.sendPoll = arena.allocate(NetLibc.POLLFD_SIZE, 8);
    }

    /**
     * Opens (creating if need be) the TAP {@code name}, or a new one named by the kernel
     * ("tap0", "tap1", ...) when {@code name} is null or empty. The interface is left down:
     * see {@link #setUp(boolean)}.
     */
    public static Tap open(String name) throws NetException {
        String requested = name == null ? "" : name;
        checkName(requested, true);
        int fd = NetLibc.open(CLONE_DEVICE, NetLibc.O_RDWR | NetLibc.O_NONBLOCK | NetLibc.O_CLOEXEC);
        if (fd < 0) {
            throw new NetException("cannot open " + CLONE_DEVICE, -fd);
        }
        int wakeFd = -1;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = ifreq(arena, requested);
            ifreq.set(ValueLayout.JAVA_SHORT, IFREQ_UNION, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
            int result = NetLibc.ioctl(fd, TUNSETIFF, ifreq);
            if (result < 0) {
                throw new NetException("TUNSETIFF " + (requested.isEmpty() ? "(new tap)" : requested), -result);
            }
            String actual = ifreq.getString(0, StandardCharsets.US_ASCII);

            MemorySegment headerSize = arena.allocate(ValueLayout.JAVA_INT);
            headerSize.set(ValueLayout.JAVA_INT, 0, VNET_HEADER_SIZE);
            result = NetLibc.ioctl(fd, TUNSETVNETHDRSZ, headerSize);
            if (result < 0) {
                throw new NetException("TUNSETVNETHDRSZ " + actual, -result);
            }
            int supported = probeOffloads(fd);
            wakeFd = NetLibc.eventfd(0, NetLibc.EFD_NONBLOCK | NetLibc.EFD_CLOEXEC);
            if (wakeFd < 0) {
                throw new NetException("eventfd for " + actual, -wakeFd);
            }
            return new Tap(actual, fd, wakeFd, supported);
        } catch (NetException | RuntimeException e) {
            NetLibc.close(fd);
            if (wakeFd >= 0) {
                NetLibc.close(wakeFd);
            }
            throw e;
        }
    }

    /**
     * Which TUN_F_* bits the kernel takes. Each offload needs TUN_F_CSUM; QEMU probes the same
     * way. The TAP is left with none set, as the kernel starts it: a reader must opt in.
     */
    private static int probeOffloads(int fd) {
        if (NetLibc.ioctl(fd, TUNSETOFFLOAD, OFFLOAD_CSUM) < 0) {
            return 0;
        }
        int supported = OFFLOAD_CSUM;
        for (int offload : PROBED_OFFLOADS) {
            int with = offload == OFFLOAD_TSO_ECN ? OFFLOAD_CSUM | OFFLOAD_TSO4 | offload : OFFLOAD_CSUM | offload;
            if (NetLibc.ioctl(fd, TUNSETOFFLOAD, with) == 0) {
                supported |= offload;
            }
        }
        NetLibc.ioctl(fd, TUNSETOFFLOAD, 0);
        return supported;
    }

    private static void checkName(String name, boolean emptyAllowed) throws NetException {
        if (name.isEmpty() && emptyAllowed) {
            return;
        }
        if (name.isEmpty() || name.length() > MAX_NAME_LENGTH || name.equals(".") || name.equals("..")
                || !name.chars().allMatch(c -> c > ' ' && c < 0x7F && c != '/' && c != ':')) {
            throw new NetException("'" + name + "' is not an interface name (1.." + MAX_NAME_LENGTH
                    + " printable characters, no '/', ':' or spaces)");
        }
    }

    private static MemorySegment ifreq(Arena arena, String name) {
        MemorySegment ifreq = arena.allocate(IFREQ_SIZE, 8);
        byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(bytes, 0, ifreq, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return ifreq;
    }

    public String name() {
        return name;
    }

    @Override
    public int supportedOffloads() {
        return supportedOffloads;
    }

    /** The offloads in force (what the reader said it takes). */
    public int offloads() {
        return offloads;
    }

    @Override
    public int setOffloads(int requested) throws NetException {
        int wanted = requested & supportedOffloads;
        if ((wanted & OFFLOAD_CSUM) == 0) {
            // The kernel refuses segmentation offloads without checksum offload.
            wanted = 0;
        }
        int result = NetLibc.ioctl(fd, TUNSETOFFLOAD, wanted);
        if (result < 0) {
            throw new NetException("TUNSETOFFLOAD 0x" + Integer.toHexString(wanted) + " " + name, -result);
        }
        offloads = wanted;
        return wanted;
    }

    /** Brings the interface up or down (SIOCSIFFLAGS with IFF_UP), as {@code ip link set NAME up} does. */
    public void setUp(boolean up) throws NetException {
        withControlSocket((socket, ifreq) -> {
            ioctl(socket, SIOCGIFFLAGS, ifreq, "SIOCGIFFLAGS");
            short flags = ifreq.get(ValueLayout.JAVA_SHORT, IFREQ_UNION);
            flags = (short) (up ? flags | IFF_UP : flags & ~IFF_UP);
            ifreq.set(ValueLayout.JAVA_SHORT, IFREQ_UNION, flags);
            ioctl(socket, SIOCSIFFLAGS, ifreq, up ? "bringing up" : "bringing down");
            return null;
        });
    }

    public boolean isUp() throws NetException {
        return withControlSocket((socket, ifreq) -> {
            ioctl(socket, SIOCGIFFLAGS, ifreq, "SIOCGIFFLAGS");
            return (ifreq.get(ValueLayout.JAVA_SHORT, IFREQ_UNION) & IFF_UP) != 0;
        });
    }

    @Override
    public int mtu() {
        try {
            return withControlSocket((socket, ifreq) -> {
                ioctl(socket, SIOCGIFMTU, ifreq, "SIOCGIFMTU");
                return ifreq.get(ValueLayout.JAVA_INT, IFREQ_UNION);
            });
        } catch (NetException e) {
            // Only a TAP that vanished under us has no MTU; Ethernet's is the safe guess.
            return 1500;
        }
    }

    public void setMtu(int mtu) throws NetException {
        withControlSocket((socket, ifreq) -> {
            ifreq.set(ValueLayout.JAVA_INT, IFREQ_UNION, mtu);
            ioctl(socket, SIOCSIFMTU, ifreq, "setting MTU " + mtu + " on");
            return null;
        });
    }

    /** The kernel's index of this interface. */
    public int index() throws NetException {
        return withControlSocket((socket, ifreq) -> {
            ioctl(socket, SIOCGIFINDEX, ifreq, "SIOCGIFINDEX");
            return ifreq.get(ValueLayout.JAVA_INT, IFREQ_UNION);
        });
    }

    /** Makes this TAP a port of the Linux bridge {@code bridge} (SIOCBRADDIF, as {@code ip link set TAP master BRIDGE}). */
    public void attachToBridge(String bridge) throws NetException {
        bridgePort(bridge, SIOCBRADDIF, "adding " + name + " to bridge " + bridge);
    }

    public void detachFromBridge(String bridge) throws NetException {
        bridgePort(bridge, SIOCBRDELIF, "removing " + name + " from bridge " + bridge);
    }

    private void bridgePort(String bridge, long request, String what) throws NetException {
        checkName(bridge, false);
        int index = index();
        int socket = controlSocket();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = ifreq(arena, bridge);
            ifreq.set(ValueLayout.JAVA_INT, IFREQ_UNION, index);
            int result = NetLibc.ioctl(socket, request, ifreq);
            if (result < 0) {
                throw new NetException(what, -result);
            }
        } finally {
            NetLibc.close(socket);
        }
    }

    @FunctionalInterface
    private interface ControlCall<T> {
        T call(int socket, MemorySegment ifreq) throws NetException;
    }

    /** Interface ioctls go through any socket; a Unix one needs no protocol family loaded. */
    private <T> T withControlSocket(ControlCall<T> call) throws NetException {
        requireOpen();
        int socket = controlSocket();
        try (Arena arena = Arena.ofConfined()) {
            return call.call(socket, ifreq(arena, name));
        } finally {
            NetLibc.close(socket);
        }
    }

    private static int controlSocket() throws NetException {
        int socket = NetLibc.socket(NetLibc.AF_UNIX, NetLibc.SOCK_DGRAM | NetLibc.SOCK_CLOEXEC, 0);
        if (socket < 0) {
            throw new NetException("socket for interface control", -socket);
        }
        return socket;
    }

    private void ioctl(int socket, long request, MemorySegment ifreq, String what) throws NetException {
        int result = NetLibc.ioctl(socket, request, ifreq);
        if (result < 0) {
            throw new NetException(what + " " + name, -result);
        }
    }

    @Override
    public void send(IoVector packet) throws NetException {
        requireOpen();
        while (true) {
            long result = NetLibc.writev(fd, packet.iovecs(), packet.count());
            if (result >= 0) {
                return;
            }
            if (result == -NetLibc.EINTR) {
                continue;
            }
            if (result != -NetLibc.EAGAIN) {
                throw new NetException("writing a " + packet.length() + "-byte frame to " + name, (int) -result);
            }
            // The TAP's socket buffer is full: wait for room rather than spin or drop.
            NetLibc.setPollFd(sendPoll, 0, fd, NetLibc.POLLOUT);
            int ready = NetLibc.poll(sendPoll, 1, 1000);
            if (ready < 0 && ready != -NetLibc.EINTR) {
                throw new NetException("poll on " + name, -ready);
            }
            requireOpen();
        }
    }

    @Override
    public int receive(IoVector buffer) throws NetException {
        requireOpen();
        if (buffer.count() == 0) {
            throw new IllegalArgumentException("receive into an empty I/O vector");
        }
        while (true) {
            long result = NetLibc.readv(fd, buffer.iovecs(), buffer.count());
            if (result >= 0) {
                return (int) result;
            }
            if (result == -NetLibc.EAGAIN) {
                return -1;
            }
            if (result != -NetLibc.EINTR) {
                throw new NetException("reading a frame from " + name, (int) -result);
            }
        }
    }

    @Override
    public void awaitReceive() throws NetException {
        requireOpen();
        NetLibc.setPollFd(receivePoll, 0, fd, NetLibc.POLLIN);
        NetLibc.setPollFd(receivePoll, 1, wakeFd, NetLibc.POLLIN);
        int ready = NetLibc.poll(receivePoll, 2, -1);
        if (ready < 0 && ready != -NetLibc.EINTR) {
            throw new NetException("poll on " + name, -ready);
        }
        if ((NetLibc.pollRevents(receivePoll, 1) & NetLibc.POLLIN) != 0) {
            NetLibc.read(wakeFd, receiveDrain);
        }
    }

    @Override
    public void wakeup() {
        if (closed) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(ValueLayout.JAVA_LONG);
            one.set(ValueLayout.JAVA_LONG, 0, 1L);
            NetLibc.write(wakeFd, one);
        }
    }

    private void requireOpen() throws NetException {
        if (closed) {
            throw new NetException("tap " + name + " is closed");
        }
    }

    /** Closes the TAP. No thread may be using it: stop the device first. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        NetLibc.close(fd);
        NetLibc.close(wakeFd);
    }

    @Override
    public String toString() {
        return "tap " + name;
    }
}
