package dev.jvirt.virtio.console;

import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.BiConsumer;

/**
 * virtio-console with MULTIPORT (virtio 1.2, 5.3.6.2), QEMU's {@code virtio-serial} with
 * {@code virtconsole} and {@code virtserialport} children: several {@link ConsolePort}s, found
 * by the driver through control messages. Port 0 is the console port when there is one (as in
 * QEMU); named ports, such as {@code org.qemu.guest_agent.0}, appear in the guest as
 * /dev/virtio-ports/NAME. Queues: port 0 on 0/1, control receive 2 and transmit 3, port n on
 * 2n+2/2n+3.
 *
 * <p>The handshake, device side: on DEVICE_READY every port is announced with PORT_ADD; on a
 * port's PORT_READY it is marked as the console (CONSOLE_PORT), named (PORT_NAME) and opened
 * from the host side (PORT_OPEN, since our ports always have their host end attached; Linux
 * blocks a writer until then). The driver's PORT_OPEN says a guest program opened the port:
 * Linux drops input for a closed port, so input is held until then.
 *
 * <p>Guest errors, as QEMU handles them: a control message shorter than 8 bytes, for an
 * unknown port, or of an unknown kind is ignored (the buffer still comes back); a ring
 * violation puts the device in NEEDS_RESET. Without MULTIPORT negotiated, port 0 alone works,
 * as {@link VirtioConsole} does.
 */
public final class VirtioSerial implements VirtioDevice, ConsolePort.Breakage {

    public static final int CONTROL_RECEIVEQ = 2;
    public static final int CONTROL_TRANSMITQ = 3;
    public static final int QUEUE_SIZE = 128;
    /** QEMU's virtio-serial max_ports default. */
    public static final int DEFAULT_MAX_PORTS = 31;

    /** Control events (struct virtio_console_control.event). */
    public static final int DEVICE_READY = 0;
    public static final int PORT_ADD = 1;
    public static final int PORT_REMOVE = 2;
    public static final int PORT_READY = 3;
    public static final int CONSOLE_PORT = 4;
    public static final int RESIZE = 5;
    public static final int PORT_OPEN = 6;
    public static final int PORT_NAME = 7;

    private static final System.Logger LOG = System.getLogger(VirtioSerial.class.getName());
    private static final int CONTROL_SIZE = 8; // le32 id, le16 event, le16 value
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)
            | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)
            | VirtioFeatures.bit(VirtioConsole.F_MULTIPORT);

    /** A port and what the control protocol knows about it. */
    private static final class Port {
        final ConsolePort data;
        final boolean console;
        volatile boolean guestConnected;

        Port(ConsolePort data, boolean console) {
            this.data = data;
            this.console = console;
        }
    }

    private final int maxPorts;
    private final Port[] ports;
    private volatile DeviceContext context;
    private volatile boolean broken;
    private volatile boolean multiport;
    private volatile BiConsumer<ConsolePort, Boolean> guestConnectionListener = (port, open) -> { };

    /** Guards the control queues and the messages waiting for control receive buffers. */
    private final Object controlLock = new Object();
    private Virtqueue controlReceive;
    private Virtqueue controlTransmit;
    private final ArrayDeque<byte[]> outgoing = new ArrayDeque<>();
    private final byte[] incoming = new byte[CONTROL_SIZE];

    public VirtioSerial() {
        this(DEFAULT_MAX_PORTS);
    }

    /** A device with room for {@code maxPorts} ports (ids 0 to maxPorts-1): QEMU's max_ports. */
    public VirtioSerial(int maxPorts) {
        if (maxPorts < 1 || maxPorts > 511) {
            throw new IllegalArgumentException("max_ports must be 1..511, not " + maxPorts);
        }
        this.maxPorts = maxPorts;
        this.ports = new Port[maxPorts];
    }

    /**
     * Adds the console port (port 0, the guest's hvc0) writing to {@code output} on virtual
     * threads. Ports are added before the guest starts.
     */
    public ConsolePort addConsole(OutputStream output) {
        return addConsole(new ConsolePort("virtconsole0", output));
    }

    public synchronized ConsolePort addConsole(ConsolePort port) {
        if (ports[0] != null) {
            throw new IllegalStateException("port 0 is taken: one console port per device");
        }
        return add(0, port, true);
    }

    /** Adds a named port (a virtserialport, e.g. org.qemu.guest_agent.0) at the next free id from 1. */
    public ConsolePort addPort(String name, OutputStream output) {
        return addPort(new ConsolePort(name, output));
    }

    public ConsolePort addPort(String name, OutputStream output, Executor transmitter, int inputCapacity) {
        return addPort(new ConsolePort(name, output, transmitter, inputCapacity));
    }

    public synchronized ConsolePort addPort(ConsolePort port) {
        if (port.name().isEmpty() || port.name().length() > 255) {
            throw new IllegalArgumentException("port name must have 1..255 characters: '" + port.name() + "'");
        }
        for (int id = 1; id < maxPorts; id++) {
            if (ports[id] == null) {
                return add(id, port, false);
            }
        }
        throw new IllegalStateException("all " + (maxPorts - 1) + " non-console ports are taken (max_ports=" + maxPorts + ")");
    }

    private ConsolePort add(int id, ConsolePort port, boolean console) {
        Objects.requireNonNull(port, "port");
        if (context != null) {
            throw new IllegalStateException("ports are added before the guest starts");
        }
        for (Port existing : ports) {
            if (existing != null && existing.data.name().equals(port.name())) {
                throw new IllegalArgumentException("a port named " + port.name() + " exists already");
            }
        }
        ports[id] = new Port(port, console);
        return port;
    }

    /** The port with id {@code id}, or null. */
    public ConsolePort port(int id) {
        Port port = id >= 0 && id < maxPorts ? ports[id] : null;
        return port == null ? null : port.data;
    }

    /** Whether a guest program has {@code port} open (QMP's VSERPORT_CHANGE state). */
    public boolean isGuestConnected(ConsolePort port) {
        for (Port candidate : ports) {
            if (candidate != null && candidate.data == port) {
                return candidate.guestConnected;
            }
        }
        return false;
    }

    /** Called with a port and its new state when a guest program opens or closes it (VSERPORT_CHANGE). */
    public void setGuestConnectionListener(BiConsumer<ConsolePort, Boolean> listener) {
        this.guestConnectionListener = Objects.requireNonNull(listener, "listener");
    }

    static int receiveQueue(int id) {
        return id == 0 ? 0 : 2 * id + 2;
    }

    @Override
    public int deviceType() {
        return VirtioDeviceType.CONSOLE;
    }

    @Override
    public long deviceFeatures() {
        return FEATURES;
    }

    @Override
    public int queueCount() {
        return 2 * maxPorts + 2;
    }

    @Override
    public int queueMaxSize(int queue) {
        return QUEUE_SIZE;
    }

    @Override
    public int configSize() {
        return VirtioConsole.CONFIG_SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        return ConsoleConfig.read(0, 0, maxPorts, offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // Nothing the driver may change (emerg_wr needs EMERG_WRITE, not offered).
    }

    @Override
    public void activate(DeviceContext context) throws VirtioException {
        boolean withControl = context.hasFeature(VirtioConsole.F_MULTIPORT);
        Virtqueue[] receive = new Virtqueue[maxPorts];
        Virtqueue[] transmit = new Virtqueue[maxPorts];
        for (int id = 0; id < (withControl ? maxPorts : 1); id++) {
            if (ports[id] != null) {
                receive[id] = ConsoleConfig.usable(context, receiveQueue(id), "virtio-serial");
                transmit[id] = ConsoleConfig.usable(context, receiveQueue(id) + 1, "virtio-serial");
            }
        }
        Virtqueue controlRx = withControl ? ConsoleConfig.usable(context, CONTROL_RECEIVEQ, "virtio-serial") : null;
        Virtqueue controlTx = withControl ? ConsoleConfig.usable(context, CONTROL_TRANSMITQ, "virtio-serial") : null;
        broken = false;
        multiport = withControl;
        this.context = context;
        for (int id = 0; id < maxPorts; id++) {
            Port port = ports[id];
            if (port != null) {
                port.guestConnected = false;
                // Without MULTIPORT there is no PORT_OPEN: port 0 is simply the console.
                port.data.setReceiveOpen(!withControl);
                port.data.attach(receive[id], receiveQueue(id), transmit[id], receiveQueue(id) + 1, context.interrupts(), this);
            }
        }
        synchronized (controlLock) {
            outgoing.clear();
            controlReceive = controlRx;
            controlTransmit = controlTx;
            // Linux sends DEVICE_READY as it probes, possibly before DRIVER_OK let its kick through.
            handleControlMessages();
        }
    }

    @Override
    public void queueNotify(int queue) {
        if (queue == CONTROL_RECEIVEQ || queue == CONTROL_TRANSMITQ) {
            if (multiport) {
                synchronized (controlLock) {
                    if (queue == CONTROL_TRANSMITQ) {
                        handleControlMessages();
                    } else {
                        flushOutgoing();
                    }
                }
            }
            return;
        }
        int id = queue < 2 ? 0 : queue / 2 - 1;
        if (id >= maxPorts || ports[id] == null || (id > 0 && !multiport)) {
            return;
        }
        if (queue % 2 == 0) {
            ports[id].data.receiveKicked();
        } else {
            ports[id].data.kickTransmit();
        }
    }

    @Override
    public void reset() {
        for (Port port : ports) {
            if (port != null) {
                port.data.detach();
                if (port.guestConnected) {
                    port.guestConnected = false;
                    guestConnectionListener.accept(port.data, false);
                }
            }
        }
        synchronized (controlLock) {
            controlReceive = null;
            controlTransmit = null;
            outgoing.clear();
        }
        context = null;
    }

    // ---- the control protocol; callers hold controlLock ----

    private void handleControlMessages() {
        Virtqueue queue = controlTransmit;
        if (queue == null || broken) {
            return;
        }
        boolean used = false;
        try {
            DescriptorChain chain;
            while ((chain = queue.pop()) != null) {
                if (chain.readableLength() < CONTROL_SIZE) {
                    LOG.log(System.Logger.Level.DEBUG, "virtio-serial: control message of " + chain.readableLength() + " bytes ignored");
                } else {
                    chain.read(0, incoming, 0, CONTROL_SIZE);
                    handle(littleEndian(incoming, 0, 4), (int) littleEndian(incoming, 4, 2), (int) littleEndian(incoming, 6, 2));
                }
                queue.addUsed(chain.head(), 0);
                used = true;
            }
        } catch (VirtioException e) {
            fail("control transmit queue", e);
            return;
        }
        if (used && queue.needsInterrupt()) {
            context.interrupts().usedBuffers(CONTROL_TRANSMITQ);
        }
        flushOutgoing();
    }

    private void handle(long id, int event, int value) {
        if (event == DEVICE_READY) {
            if (value == 0) {
                LOG.log(System.Logger.Level.WARNING, "virtio-serial: the guest failed to initialise the device");
                return;
            }
            for (int port = 0; port < maxPorts; port++) {
                if (ports[port] != null) {
                    send(port, PORT_ADD, 1, null);
                }
            }
            return;
        }
        Port port = id >= 0 && id < maxPorts ? ports[(int) id] : null;
        if (port == null) {
            LOG.log(System.Logger.Level.DEBUG, "virtio-serial: control event " + event + " for unknown port " + id + " ignored");
            return;
        }
        int portId = (int) id;
        switch (event) {
            case PORT_READY -> {
                if (value == 0) {
                    LOG.log(System.Logger.Level.WARNING, "virtio-serial: the guest failed to add port " + portId);
                    return;
                }
                if (port.console) {
                    send(portId, CONSOLE_PORT, 1, null);
                }
                if (!port.console) {
                    // QEMU sends the name NUL-terminated; Linux copies up to the buffer's end.
                    byte[] name = port.data.name().getBytes(StandardCharsets.UTF_8);
                    byte[] terminated = new byte[name.length + 1];
                    System.arraycopy(name, 0, terminated, 0, name.length);
                    send(portId, PORT_NAME, 0, terminated);
                }
                send(portId, PORT_OPEN, 1, null);
            }
            case PORT_OPEN -> {
                boolean open = value != 0;
                boolean changed = port.guestConnected != open;
                port.guestConnected = open;
                port.data.setReceiveOpen(open);
                if (changed) {
                    guestConnectionListener.accept(port.data, open);
                }
            }
            default -> LOG.log(System.Logger.Level.DEBUG, "virtio-serial: control event " + event + " from the guest ignored");
        }
    }

    private void send(int id, int event, int value, byte[] extra) {
        int extraLength = extra == null ? 0 : extra.length;
        byte[] message = new byte[CONTROL_SIZE + extraLength];
        putLittleEndian(message, 0, 4, id);
        putLittleEndian(message, 4, 2, event);
        putLittleEndian(message, 6, 2, value);
        if (extra != null) {
            System.arraycopy(extra, 0, message, CONTROL_SIZE, extraLength);
        }
        // A driver that repeats DEVICE_READY without taking messages must not grow this forever.
        if (outgoing.size() >= 4 * maxPorts + 16) {
            LOG.log(System.Logger.Level.DEBUG, "virtio-serial: control message " + event + " for port " + id + " dropped: the driver takes none");
            return;
        }
        outgoing.add(message);
    }

    /** Moves waiting control messages into the driver's control receive buffers, one per buffer. */
    private void flushOutgoing() {
        Virtqueue queue = controlReceive;
        if (queue == null || broken || outgoing.isEmpty()) {
            return;
        }
        boolean used = false;
        try {
            while (!outgoing.isEmpty()) {
                DescriptorChain chain = queue.pop();
                if (chain == null) {
                    break;
                }
                byte[] message = outgoing.poll();
                // A buffer too small for the message gets what fits, as in QEMU.
                int length = (int) Math.min(message.length, chain.writableLength());
                chain.write(0, message, 0, length);
                queue.addUsed(chain.head(), length);
                used = true;
            }
        } catch (VirtioException e) {
            fail("control receive queue", e);
            return;
        }
        if (used && queue.needsInterrupt()) {
            context.interrupts().usedBuffers(CONTROL_RECEIVEQ);
        }
    }

    private static long littleEndian(byte[] bytes, int at, int length) {
        long value = 0;
        for (int i = length - 1; i >= 0; i--) {
            value = (value << 8) | (bytes[at + i] & 0xFF);
        }
        return value;
    }

    private static void putLittleEndian(byte[] bytes, int at, int length, long value) {
        for (int i = 0; i < length; i++) {
            bytes[at + i] = (byte) (value >>> (8 * i));
        }
    }

    @Override
    public boolean isBroken() {
        return broken;
    }

    @Override
    public void fail(String where, VirtioException e) {
        broken = true;
        LOG.log(System.Logger.Level.WARNING, "virtio-serial: " + where + ": " + e.getMessage() + "; device needs reset");
        DeviceContext active = context;
        if (active != null) {
            active.needsReset().run();
        }
    }
}
