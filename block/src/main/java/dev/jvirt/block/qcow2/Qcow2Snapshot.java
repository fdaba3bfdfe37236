package dev.jvirt.block.qcow2;

/**
 * One internal snapshot as the snapshot table describes it (qcow2.txt, "Snapshots"). The file's
 * unsigned fields are kept in longs. As QEMU reads old entries whose extra data is too short:
 * {@code vmStateSize} falls back to the 32-bit field, {@code diskSize} to the image's current
 * virtual size, and {@code icount} is -1 ("unknown"). Extra data past the fields we know is kept
 * byte for byte, so rewriting the table preserves it (qcow2.txt: unknown fields must be ignored,
 * and QEMU carries them over).
 */
public record Qcow2Snapshot(String id, String name, long l1TableOffset, int l1Size, long dateSeconds, long dateNanos,
                            long vmClockNanos, long vmStateSize, long diskSize, long icount, byte[] unknownExtraData) {

    public Qcow2Snapshot {
        unknownExtraData = unknownExtraData.clone();
    }

    @Override
    public byte[] unknownExtraData() {
        return unknownExtraData.clone();
    }
}
