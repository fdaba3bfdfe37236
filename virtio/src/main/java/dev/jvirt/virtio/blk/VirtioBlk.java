package dev.jvirt.virtio.blk;

/**
 * Numbers from the virtio 1.2 block device (section 5.2) and Linux's
 * include/uapi/linux/virtio_blk.h: feature bits, request types, status values and the
 * configuration layout.
 */
public final class VirtioBlk {

    public static final int F_SIZE_MAX = 1;
    public static final int F_SEG_MAX = 2;
    public static final int F_RO = 5;
    public static final int F_BLK_SIZE = 6;
    public static final int F_FLUSH = 9;
    public static final int F_CONFIG_WCE = 11;
    public static final int F_MQ = 12;
    public static final int F_DISCARD = 13;
    public static final int F_WRITE_ZEROES = 14;

    public static final int T_IN = 0;
    public static final int T_OUT = 1;
    public static final int T_FLUSH = 4;
    public static final int T_GET_ID = 8;
    public static final int T_DISCARD = 11;
    public static final int T_WRITE_ZEROES = 13;

    public static final int S_OK = 0;
    public static final int S_IOERR = 1;
    public static final int S_UNSUPP = 2;

    /** Only flag of a discard/write-zeroes segment. */
    public static final int WRITE_ZEROES_FLAG_UNMAP = 1;

    /** type (le32), reserved (le32), sector (le64). */
    public static final int REQUEST_HEADER_SIZE = 16;
    /** sector (le64), num_sectors (le32), flags (le32). */
    public static final int SEGMENT_SIZE = 16;
    /** The serial GET_ID returns: at most 20 bytes, NUL-padded when shorter. */
    public static final int ID_BYTES = 20;
    /** Sectors in requests and in capacity are always 512 bytes, whatever blk_size says. */
    public static final int SECTOR_SIZE = 512;

    // struct virtio_blk_config offsets
    public static final int CONFIG_CAPACITY = 0;
    public static final int CONFIG_SIZE_MAX = 8;
    public static final int CONFIG_SEG_MAX = 12;
    public static final int CONFIG_BLK_SIZE = 20;
    public static final int CONFIG_WRITEBACK = 32;
    public static final int CONFIG_NUM_QUEUES = 34;
    public static final int CONFIG_MAX_DISCARD_SECTORS = 36;
    public static final int CONFIG_MAX_DISCARD_SEG = 40;
    public static final int CONFIG_DISCARD_SECTOR_ALIGNMENT = 44;
    public static final int CONFIG_MAX_WRITE_ZEROES_SECTORS = 48;
    public static final int CONFIG_MAX_WRITE_ZEROES_SEG = 52;
    public static final int CONFIG_WRITE_ZEROES_MAY_UNMAP = 56;
    /** Up to and including write_zeroes_may_unmap and its padding; secure erase and zoned are not offered. */
    public static final int CONFIG_SIZE = 60;

    private VirtioBlk() {
    }
}
