package dev.jvirt.block.vdi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Builds VDI 1.1 files from the layout QEMU's block/vdi.c documents, independently of the reader. */
final class VdiFiles {

    static final int BLOCK = 1 << 20;
    static final int UNALLOCATED = 0xffffffff;
    static final int DISCARDED = 0xfffffffe;

    private VdiFiles() {
    }

    /**
     * A VDI holding {@code disk}: static images store every block in order; dynamic ones store
     * only blocks with data, in reverse order (to prove the map is followed), the rest unallocated.
     */
    static byte[] build(byte[] disk, boolean dynamic) {
        int blocks = (disk.length + BLOCK - 1) / BLOCK;
        int mapOffset = 512;
        int dataOffset = mapOffset + ((blocks * 4 + 511) & ~511);
        int[] map = new int[blocks];
        int stored = 0;
        for (int i = blocks - 1; i >= 0; i--) {
            map[i] = !dynamic || !isZero(disk, i) ? stored++ : UNALLOCATED;
        }
        ByteBuffer out = ByteBuffer.allocate(dataOffset + stored * BLOCK).order(ByteOrder.LITTLE_ENDIAN);
        out.put(0, "<<< Oracle VM VirtualBox Disk Image >>>\n".getBytes(StandardCharsets.US_ASCII));
        out.putInt(0x40, 0xbeda107f);
        out.putInt(0x44, 0x00010001);
        out.putInt(0x48, 0x180);
        out.putInt(0x4c, dynamic ? 1 : 2);
        out.putInt(0x154, mapOffset);
        out.putInt(0x158, dataOffset);
        out.putInt(0x168, 512);
        out.putLong(0x170, disk.length);
        out.putInt(0x178, BLOCK);
        out.putInt(0x180, blocks);
        out.putInt(0x184, stored);
        out.putLong(0x188, 0x1234_5678L); // an image UUID, not null
        for (int i = 0; i < blocks; i++) {
            out.putInt(mapOffset + i * 4, map[i]);
            if (map[i] != UNALLOCATED) {
                int from = i * BLOCK;
                out.put(dataOffset + map[i] * BLOCK, Arrays.copyOfRange(disk, from, Math.min(from + BLOCK, disk.length)));
            }
        }
        return out.array();
    }

    private static boolean isZero(byte[] disk, int block) {
        for (int i = block * BLOCK; i < Math.min(disk.length, (block + 1) * BLOCK); i++) {
            if (disk[i] != 0) {
                return false;
            }
        }
        return true;
    }
}
