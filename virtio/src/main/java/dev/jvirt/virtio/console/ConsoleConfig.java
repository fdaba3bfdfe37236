package dev.jvirt.virtio.console;

import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.Virtqueue;

/** What virtio-console and virtio-serial share: the configuration layout and queue setup. */
final class ConsoleConfig {

    /**
     * Reads struct virtio_console_config (cols le16 at 0, rows le16 at 2, max_nr_ports le32
     * at 4, emerg_wr le32 at 8, which reads as 0).
     */
    static int read(int columns, int rows, int maxPorts, int offset, int size) {
        int value = 0;
        for (int i = size - 1; i >= 0; i--) {
            value = (value << 8) | configByte(columns, rows, maxPorts, offset + i);
        }
        return value;
    }

    private static int configByte(int columns, int rows, int maxPorts, int offset) {
        return switch (offset) {
            case 0 -> columns & 0xFF;
            case 1 -> (columns >> 8) & 0xFF;
            case 2 -> rows & 0xFF;
            case 3 -> (rows >> 8) & 0xFF;
            case 4, 5, 6, 7 -> (maxPorts >>> (8 * (offset - 4))) & 0xFF;
            default -> 0;
        };
    }

    static void checkWindowSize(int columns, int rows) {
        if (columns < 0 || columns > 0xFFFF || rows < 0 || rows > 0xFFFF) {
            throw new IllegalArgumentException("window size " + columns + "x" + rows + " does not fit 16 bits");
        }
    }

    /**
     * The queue if the driver enabled it, activated with the negotiated ring features if the
     * transport has not done so already; null if the driver left it off.
     */
    static Virtqueue usable(DeviceContext context, int index, String device) throws VirtioException {
        Virtqueue queue = context.queues().get(index);
        if (!queue.isReady()) {
            return null;
        }
        if (!queue.isActive()) {
            try {
                queue.activate(context.memory(), context.hasFeature(VirtioFeatures.RING_EVENT_IDX),
                        context.hasFeature(VirtioFeatures.RING_INDIRECT_DESC));
            } catch (VirtioException e) {
                throw new VirtioException(device + " queue " + index + ": " + e.getMessage());
            }
        }
        return queue;
    }

    private ConsoleConfig() {
    }
}
