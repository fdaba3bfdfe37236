package dev.jvirt.virtio;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.queue.Virtqueue;

import java.util.List;

/**
 * What an activated device works with. {@code queues} holds one entry per queue the device
 * declared; a queue the driver did not enable is present but not {@link Virtqueue#isReady()}.
 * {@code needsReset} puts the device in NEEDS_RESET and tells the driver (a config interrupt).
 */
public record DeviceContext(GuestMemory memory, long features, List<Virtqueue> queues,
                            VirtioInterrupts interrupts, Runnable needsReset) {

    public DeviceContext {
        queues = List.copyOf(queues);
    }

    public boolean hasFeature(int bit) {
        return (features & (1L << bit)) != 0;
    }
}
