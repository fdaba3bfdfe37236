package dev.jvirt.block.qcow2;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Empties a qcow2 image, as qemu-img commit does to the overlay it committed: every guest cluster
 * becomes unallocated again (reads fall through to the backing file). The L1 table is cleared
 * first, then the L2 tables and data clusters it pointed at lose their references, then the file is
 * cut back; a crash in between leaves leaked clusters only. Tables shared with internal
 * snapshots keep the snapshots' references.
 */
public final class Qcow2Emptier {

    private Qcow2Emptier() {
    }

    public static void makeEmpty(Path path) throws IOException {
        try (Qcow2File image = Qcow2File.openForUpdate(path)) {
            long[] dropped = image.l1.clone();
            java.util.Arrays.fill(image.l1, 0L);
            if (image.l1.length > 0) {
                image.writeL1Entries(0, image.l1.length);
            }
            image.barrier();
            for (long l1Entry : dropped) {
                long l2Offset = l1Entry & Qcow2Image.OFFSET_MASK;
                if (l2Offset != 0) {
                    image.releaseL2(l2Offset);
                }
            }
            image.barrier();
            image.truncateToLastUsedCluster();
        }
    }
}
