package dev.jvirt.virtio;

/**
 * How a device tells the driver something happened. The transport maps these to MSI-X vectors
 * (or to the INTx line and ISR status when the driver did not enable MSI-X).
 */
public interface VirtioInterrupts {

    /** Buffers were added to {@code queue}'s used ring (the caller already asked the queue whether to notify). */
    void usedBuffers(int queue);

    /** The device configuration changed. */
    void configChanged();
}
