package dev.jvirt.virtio.console;

import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.Virtqueue;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.Executor;

/**
 * virtio-console (virtio 1.2, section 5.3) with one port, the guest's hvc0: receiveq 0 and
 * transmitq 1 belong to a {@link ConsolePort}, which does the data path. MULTIPORT is not
 * offered, so there are no control queues ({@link VirtioSerial} is the multiport device).
 *
 * <p>A ring violation the queue layer reports puts the device in NEEDS_RESET (as QEMU's
 * virtio_error does); it stays quiet until the driver resets it.
 */
public final class VirtioConsole implements VirtioDevice, ConsolePort.Breakage {

    public static final int RECEIVEQ = 0;
    public static final int TRANSMITQ = 1;
    public static final int QUEUE_SIZE = 128;

    /** Feature bits (5.3.3). */
    public static final int F_SIZE = 0;
    public static final int F_MULTIPORT = 1;
    public static final int F_EMERG_WRITE = 2;

    /** struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
    public static final int CONFIG_SIZE = 12;
    public static final int DEFAULT_INPUT_CAPACITY = ConsolePort.DEFAULT_INPUT_CAPACITY;

    private static final System.Logger LOG = System.getLogger(VirtioConsole.class.getName());
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.VERSION_1)
            | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC)
            | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)
            | VirtioFeatures.bit(F_SIZE);

    private final ConsolePort port;
    private volatile DeviceContext context;
    private volatile boolean broken;
    private volatile int columns;
    private volatile int rows;

    /** Guest output to {@code output}, written on virtual threads; 64 KiB of input buffering. */
    public VirtioConsole(OutputStream output) {
        this(output, ConsolePort.virtualThreads("virtio-console"), DEFAULT_INPUT_CAPACITY);
    }

    /**
     * Guest output to {@code output}, written by tasks run on {@code transmitter} (one at a
     * time); up to {@code inputCapacity} bytes of host input wait for receive buffers.
     */
    public VirtioConsole(OutputStream output, Executor transmitter, int inputCapacity) {
        this.port = new ConsolePort("virtio-console", output, transmitter, inputCapacity);
    }

    /** The data path: where the VMM feeds input. */
    public ConsolePort port() {
        return port;
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
        return 2;
    }

    @Override
    public int queueMaxSize(int queue) {
        return QUEUE_SIZE;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        return ConsoleConfig.read(columns, rows, 1, offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // cols, rows and max_nr_ports are the device's; emerg_wr needs EMERG_WRITE, not offered.
    }

    /**
     * The host terminal's size (F_SIZE), e.g. after SIGWINCH. A running driver is told with a
     * configuration change interrupt and resizes hvc0.
     */
    public void setWindowSize(int columns, int rows) {
        ConsoleConfig.checkWindowSize(columns, rows);
        boolean changed = columns != this.columns || rows != this.rows;
        this.columns = columns;
        this.rows = rows;
        DeviceContext active = context;
        if (changed && active != null && active.hasFeature(F_SIZE)) {
            active.interrupts().configChanged();
        }
    }

    @Override
    public void activate(DeviceContext context) throws VirtioException {
        Virtqueue rx = ConsoleConfig.usable(context, RECEIVEQ, "virtio-console");
        Virtqueue tx = ConsoleConfig.usable(context, TRANSMITQ, "virtio-console");
        broken = false;
        this.context = context;
        port.attach(rx, RECEIVEQ, tx, TRANSMITQ, context.interrupts(), this);
    }

    @Override
    public void queueNotify(int queue) {
        if (queue == RECEIVEQ) {
            port.receiveKicked();
        } else if (queue == TRANSMITQ) {
            port.kickTransmit();
        }
    }

    @Override
    public void reset() {
        port.detach();
        context = null;
    }

    // ---- input, for the VMM (see ConsolePort) ----

    public int enqueueInput(byte[] data, int offset, int length) {
        return port.enqueueInput(data, offset, length);
    }

    public int enqueueInput(byte[] data) {
        return port.enqueueInput(data);
    }

    public void awaitRoom() throws InterruptedException {
        port.awaitRoom();
    }

    public void enqueueInputFully(byte[] data, int offset, int length) throws InterruptedException {
        port.enqueueInputFully(data, offset, length);
    }

    public int pendingInput() {
        return port.pendingInput();
    }

    public Thread startInputPump(InputStream input) {
        return port.startInputPump(input);
    }

    @Override
    public boolean isBroken() {
        return broken;
    }

    @Override
    public void fail(String where, VirtioException e) {
        broken = true;
        LOG.log(System.Logger.Level.WARNING, "virtio-console: " + where + ": " + e.getMessage() + "; device needs reset");
        DeviceContext active = context;
        if (active != null) {
            active.needsReset().run();
        }
    }
}
