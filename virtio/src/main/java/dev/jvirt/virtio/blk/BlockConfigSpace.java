package dev.jvirt.virtio.blk;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * struct virtio_blk_config as the driver reads it. Everything but {@code writeback} is fixed when
 * the device is made; {@code writeback} is the one field a driver writes (VIRTIO_BLK_F_CONFIG_WCE,
 * Linux's cache_type attribute) and goes back to the cache mode's default on reset.
 */
final class BlockConfigSpace {

    private final byte[] bytes = new byte[VirtioBlk.CONFIG_SIZE];
    private final boolean defaultWriteback;
    private volatile boolean writeback;

    BlockConfigSpace(long capacitySectors, int sizeMax, int segMax, int blockSize, int queues,
                     int maxZeroSectors, int maxSegments, boolean mayUnmap, boolean defaultWriteback) {
        ByteBuffer config = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        config.putLong(VirtioBlk.CONFIG_CAPACITY, capacitySectors);
        config.putInt(VirtioBlk.CONFIG_SIZE_MAX, sizeMax);
        config.putInt(VirtioBlk.CONFIG_SEG_MAX, segMax);
        config.putInt(VirtioBlk.CONFIG_BLK_SIZE, blockSize);
        config.putShort(VirtioBlk.CONFIG_NUM_QUEUES, (short) queues);
        config.putInt(VirtioBlk.CONFIG_MAX_DISCARD_SECTORS, maxZeroSectors);
        config.putInt(VirtioBlk.CONFIG_MAX_DISCARD_SEG, maxSegments);
        config.putInt(VirtioBlk.CONFIG_DISCARD_SECTOR_ALIGNMENT, blockSize / VirtioBlk.SECTOR_SIZE);
        config.putInt(VirtioBlk.CONFIG_MAX_WRITE_ZEROES_SECTORS, maxZeroSectors);
        config.putInt(VirtioBlk.CONFIG_MAX_WRITE_ZEROES_SEG, maxSegments);
        config.put(VirtioBlk.CONFIG_WRITE_ZEROES_MAY_UNMAP, (byte) (mayUnmap ? 1 : 0));
        this.defaultWriteback = defaultWriteback;
        this.writeback = defaultWriteback;
    }

    /** {@code size} (1, 2 or 4) bytes at {@code offset}, little-endian; the transport checked the range. */
    int read(int offset, int size) {
        int value = 0;
        for (int i = size - 1; i >= 0; i--) {
            value = value << 8 | byteAt(offset + i);
        }
        return value;
    }

    private int byteAt(int offset) {
        if (offset == VirtioBlk.CONFIG_WRITEBACK) {
            return writeback ? 1 : 0;
        }
        return offset >= 0 && offset < bytes.length ? bytes[offset] & 0xFF : 0;
    }

    /** Only {@code writeback} is writable, and only with 0 (writethrough) or 1 (writeback). */
    void write(int offset, int size, int value) {
        if (offset == VirtioBlk.CONFIG_WRITEBACK && size == 1 && (value == 0 || value == 1)) {
            writeback = value == 1;
        }
    }

    boolean writeback() {
        return writeback;
    }

    void reset() {
        writeback = defaultWriteback;
    }
}
