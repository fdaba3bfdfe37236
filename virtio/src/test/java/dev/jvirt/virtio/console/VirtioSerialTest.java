package dev.jvirt.virtio.console;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.queue.Virtqueue;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.DriverQueue.Buffer;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Plays Linux's virtio_console driver with MULTIPORT: control receive buffers first, then
 * DEVICE_READY, PORT_READY per announced port, PORT_OPEN when a program opens a port.
 */
class VirtioSerialTest {

    private static final String AGENT = "org.qemu.guest_agent.0";

    private final GuestMemory memory = TestMemory.allocate(4 << 20);
    /** Driver queues by device queue index: port 0 (0, 1), control (2, 3), port 1 (4, 5). */
    private final DriverQueue[] driver = new DriverQueue[6];
    private final AtomicInteger resets = new AtomicInteger();
    private final ByteArrayOutputStream consoleOutput = new ByteArrayOutputStream();
    private final ByteArrayOutputStream agentOutput = new ByteArrayOutputStream();
    private final List<String> connectionEvents = new ArrayList<>();

    private final VirtioSerial serial = new VirtioSerial(2);
    private final ConsolePort console = serial.addConsole(new ConsolePort("virtconsole0", consoleOutput, Runnable::run, 64));
    private final ConsolePort agent = serial.addPort(AGENT, agentOutput, Runnable::run, 64);

    VirtioSerialTest() {
        for (int q = 0; q < driver.length; q++) {
            driver[q] = new DriverQueue(memory, 0x1000 + q * 0x80000L, 8);
        }
        serial.setGuestConnectionListener((port, open) -> connectionEvents.add(port.name() + "=" + open));
    }

    @AfterEach
    void closeMemory() {
        memory.close();
    }

    private void activate(long features) throws Exception {
        List<Virtqueue> queues = new ArrayList<>();
        for (int q = 0; q < serial.queueCount(); q++) {
            Virtqueue queue = driver[q].deviceQueue(VirtioSerial.QUEUE_SIZE);
            queue.activate(memory, false, true);
            queues.add(queue);
        }
        VirtioInterrupts interrupts = new VirtioInterrupts() {
            @Override
            public void usedBuffers(int queue) {
            }

            @Override
            public void configChanged() {
            }
        };
        serial.activate(new DeviceContext(memory, features, queues, interrupts, resets::incrementAndGet));
    }

    private void activateMultiport() throws Exception {
        activate(serial.deviceFeatures());
    }

    private record Control(long id, int event, int value, String extra) {
    }

    private static byte[] control(long id, int event, int value) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt((int) id).putShort((short) event).putShort((short) value).array();
    }

    /** The driver sends a control message and kicks control transmit. */
    private void sendControl(long id, int event, int value) {
        DriverQueue queue = driver[VirtioSerial.CONTROL_TRANSMITQ];
        byte[] message = control(id, event, value);
        queue.addChain(List.of(Buffer.readable(queue.allocate(message), message.length)));
        serial.queueNotify(VirtioSerial.CONTROL_TRANSMITQ);
    }

    private final List<Long> controlBuffers = new ArrayList<>();

    /** Like Linux's fill_queue on the control receive queue. */
    private void postControlBuffers(int count) {
        DriverQueue queue = driver[VirtioSerial.CONTROL_RECEIVEQ];
        for (int i = 0; i < count; i++) {
            long buffer = queue.allocate(256);
            controlBuffers.add(buffer);
            queue.addChain(List.of(Buffer.writable(buffer, 256)));
        }
        serial.queueNotify(VirtioSerial.CONTROL_RECEIVEQ);
    }

    private int controlRead;

    private List<Control> receivedControl() {
        List<Control> messages = new ArrayList<>();
        DriverQueue.Used used;
        while ((used = driver[VirtioSerial.CONTROL_RECEIVEQ].nextUsed()) != null) {
            long buffer = controlBuffers.get(controlRead++);
            ByteBuffer bytes = ByteBuffer.wrap(memory.read(buffer, used.length())).order(ByteOrder.LITTLE_ENDIAN);
            long id = Integer.toUnsignedLong(bytes.getInt());
            int event = Short.toUnsignedInt(bytes.getShort());
            int value = Short.toUnsignedInt(bytes.getShort());
            byte[] extra = new byte[bytes.remaining()];
            bytes.get(extra);
            messages.add(new Control(id, event, value, new String(extra, StandardCharsets.UTF_8)));
        }
        return messages;
    }

    private void handshake() throws Exception {
        activateMultiport();
        postControlBuffers(8);
        sendControl(0, VirtioSerial.DEVICE_READY, 1);
        sendControl(0, VirtioSerial.PORT_READY, 1);
        sendControl(1, VirtioSerial.PORT_READY, 1);
        receivedControl();
    }

    @Test
    void configAndQueuesFollowMaxPorts() {
        assertEquals(2, serial.readConfig(4, 4), "max_nr_ports");
        assertEquals(6, serial.queueCount(), "two per port plus the control pair");
        assertTrue((serial.deviceFeatures() & VirtioFeatures.bit(VirtioConsole.F_MULTIPORT)) != 0);
        assertEquals(4, VirtioSerial.receiveQueue(1));
    }

    @Test
    void handshakeAnnouncesConsoleAndNamedPort() throws Exception {
        activateMultiport();
        postControlBuffers(8);
        sendControl(0, VirtioSerial.DEVICE_READY, 1);
        assertEquals(List.of(new Control(0, VirtioSerial.PORT_ADD, 1, ""), new Control(1, VirtioSerial.PORT_ADD, 1, "")), receivedControl());

        sendControl(0, VirtioSerial.PORT_READY, 1);
        assertEquals(List.of(new Control(0, VirtioSerial.CONSOLE_PORT, 1, ""), new Control(0, VirtioSerial.PORT_OPEN, 1, "")), receivedControl());

        sendControl(1, VirtioSerial.PORT_READY, 1);
        assertEquals(List.of(new Control(1, VirtioSerial.PORT_NAME, 0, AGENT + "\0"), new Control(1, VirtioSerial.PORT_OPEN, 1, "")), receivedControl());
        assertEquals(0, resets.get());
    }

    @Test
    void controlMessagesWaitForReceiveBuffers() throws Exception {
        activateMultiport();
        sendControl(0, VirtioSerial.DEVICE_READY, 1);
        assertTrue(receivedControl().isEmpty());
        postControlBuffers(1);
        assertEquals(List.of(new Control(0, VirtioSerial.PORT_ADD, 1, "")), receivedControl());
        postControlBuffers(1);
        assertEquals(List.of(new Control(1, VirtioSerial.PORT_ADD, 1, "")), receivedControl());
    }

    @Test
    void inputToANamedPortWaitsUntilAGuestProgramOpensIt() throws Exception {
        handshake();
        DriverQueue rx = driver[VirtioSerial.receiveQueue(1)];
        long buffer = rx.allocate(64);
        int head = rx.addChain(List.of(Buffer.writable(buffer, 64)));
        serial.queueNotify(VirtioSerial.receiveQueue(1));

        assertEquals(17, agent.enqueueInput("{\"execute\":\"x\"}\n\n".getBytes(StandardCharsets.US_ASCII)));
        assertNull(rx.nextUsed(), "Linux would drop data for a closed port: held");
        assertFalse(serial.isGuestConnected(agent));

        sendControl(1, VirtioSerial.PORT_OPEN, 1); // qemu-ga opened /dev/virtio-ports/org.qemu.guest_agent.0
        assertTrue(serial.isGuestConnected(agent));
        assertEquals(List.of(AGENT + "=true"), connectionEvents);
        assertEquals(new DriverQueue.Used(head, 17), rx.nextUsed());
        assertEquals("{\"execute\":\"x\"}\n\n", new String(memory.read(buffer, 17), StandardCharsets.US_ASCII));

        DriverQueue tx = driver[VirtioSerial.receiveQueue(1) + 1];
        byte[] reply = "{\"return\":{}}\n".getBytes(StandardCharsets.US_ASCII);
        tx.addChain(List.of(Buffer.readable(tx.allocate(reply), reply.length)));
        serial.queueNotify(VirtioSerial.receiveQueue(1) + 1);
        assertEquals("{\"return\":{}}\n", agentOutput.toString(StandardCharsets.US_ASCII));
        assertEquals("", consoleOutput.toString(StandardCharsets.US_ASCII), "each port has its own stream");

        sendControl(1, VirtioSerial.PORT_OPEN, 0);
        assertEquals(List.of(AGENT + "=true", AGENT + "=false"), connectionEvents);
    }

    @Test
    void consolePortCarriesHvc0() throws Exception {
        handshake();
        sendControl(0, VirtioSerial.PORT_OPEN, 1); // init_port_console
        DriverQueue rx = driver[0];
        long buffer = rx.allocate(16);
        int head = rx.addChain(List.of(Buffer.writable(buffer, 16)));
        console.enqueueInput("ls\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals(new DriverQueue.Used(head, 3), rx.nextUsed());

        DriverQueue tx = driver[1];
        tx.addChain(List.of(Buffer.readable(tx.allocate("# ".getBytes(StandardCharsets.US_ASCII)), 2)));
        serial.queueNotify(1);
        assertEquals("# ", consoleOutput.toString(StandardCharsets.US_ASCII));
    }

    @Test
    void withoutMultiportPortZeroIsAPlainConsole() throws Exception {
        activate(VirtioFeatures.bit(VirtioFeatures.VERSION_1));
        DriverQueue rx = driver[0];
        long buffer = rx.allocate(16);
        int head = rx.addChain(List.of(Buffer.writable(buffer, 16)));
        console.enqueueInput("hi".getBytes(StandardCharsets.US_ASCII));
        assertEquals(new DriverQueue.Used(head, 2), rx.nextUsed(), "no PORT_OPEN exists without MULTIPORT");
        serial.queueNotify(VirtioSerial.CONTROL_TRANSMITQ); // not a queue in this mode
        assertEquals(0, resets.get());
    }

    @Test
    void badControlMessagesAreIgnored() throws Exception {
        activateMultiport();
        postControlBuffers(8);
        DriverQueue queue = driver[VirtioSerial.CONTROL_TRANSMITQ];
        int shortHead = queue.addChain(List.of(Buffer.readable(queue.allocate(new byte[] {0, 0, 0, 0, 0}), 5)));
        serial.queueNotify(VirtioSerial.CONTROL_TRANSMITQ);
        assertEquals(new DriverQueue.Used(shortHead, 0), queue.nextUsed(), "too short: returned, ignored");
        sendControl(7, VirtioSerial.PORT_READY, 1);
        sendControl(0xFFFF_FFFFL, VirtioSerial.PORT_OPEN, 1);
        sendControl(1, 99, 1);
        assertTrue(receivedControl().isEmpty(), "nothing answered");
        assertEquals(0, resets.get());

        queue.setAvailableIndex(queue.usedIndex() + 50); // far beyond the ring
        serial.queueNotify(VirtioSerial.CONTROL_TRANSMITQ);
        assertEquals(1, resets.get(), "a broken ring needs reset");
    }

    @Test
    void repeatedDeviceReadyCannotGrowTheBacklogForever() throws Exception {
        activateMultiport();
        for (int i = 0; i < 1000; i++) {
            sendControl(0, VirtioSerial.DEVICE_READY, 1);
            driver[VirtioSerial.CONTROL_TRANSMITQ].nextUsed();
        }
        int delivered = 0;
        for (int round = 0; round < 4; round++) {
            postControlBuffers(8); // the whole 8-entry queue each round
            delivered += receivedControl().size();
        }
        assertEquals(4 * 2 + 16, delivered, "the backlog is capped");
    }

    @Test
    void portsAreAddedBeforeTheGuestStartsAndNamesAreUnique() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> new VirtioSerial(3).addPort("", new ByteArrayOutputStream()));
        VirtioSerial three = new VirtioSerial(3);
        three.addPort("a", new ByteArrayOutputStream());
        assertThrows(IllegalArgumentException.class, () -> three.addPort("a", new ByteArrayOutputStream()));
        assertThrows(IllegalStateException.class, () -> serial.addConsole(new ByteArrayOutputStream()), "port 0 is taken");
        assertThrows(IllegalStateException.class, () -> serial.addPort("b", new ByteArrayOutputStream()), "max_ports 2: only port 1");
        activateMultiport();
        VirtioSerial active = serial;
        assertThrows(IllegalStateException.class, () -> active.addPort("late", new ByteArrayOutputStream()));
    }
}
