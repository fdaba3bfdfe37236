package dev.jvirt.virtio;

/**
 * A virtio device as its transport sees it: what it offers, its configuration space, and the
 * moments of its life the driver decides (activation on DRIVER_OK, queue kicks, reset).
 * The transport (virtio-pci) owns feature negotiation, the status byte and the queue registers;
 * a device never parses transport registers and never sees an unchecked descriptor.
 */
public interface VirtioDevice {

    /** The virtio device ID (see {@link VirtioDeviceType}). */
    int deviceType();

    /** The features offered to the driver, device-specific bits plus any of {@link VirtioFeatures}. */
    long deviceFeatures();

    int queueCount();

    /** The largest size the driver may give queue {@code queue}: a power of two, at most 32768. */
    int queueMaxSize(int queue);

    /** Bytes of device-specific configuration space. */
    int configSize();

    /**
     * Reads {@code size} (1, 2 or 4) bytes at {@code offset} of the device configuration,
     * little-endian. Offsets are checked by the transport to lie inside {@link #configSize()}.
     */
    int readConfig(int offset, int size);

    /** Writes to the device configuration; read-only fields ignore the write. */
    void writeConfig(int offset, int size, int value);

    /**
     * The driver set DRIVER_OK: the negotiated features and the queues it made ready are final
     * until {@link #reset()}. Throwing {@link VirtioException} refuses the activation (the
     * transport then sets NEEDS_RESET).
     */
    void activate(DeviceContext context) throws VirtioException;

    /**
     * The driver kicked {@code queue}. Called on a vCPU thread or an ioeventfd thread: a device
     * whose requests are slow hands the work to its own thread.
     */
    void queueNotify(int queue);

    /** The driver reset the device (status 0): stop using the queues and forget the activation. */
    void reset();
}
