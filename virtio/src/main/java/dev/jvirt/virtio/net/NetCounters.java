package dev.jvirt.virtio.net;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What a virtio-net device moved and lost, for QMP and tests. Dropped frames are the guest's
 * doing (a bad header) or the host's (no room, backend refused); errors are backend failures.
 */
public final class NetCounters {

    final AtomicLong txFrames = new AtomicLong();
    final AtomicLong txBytes = new AtomicLong();
    final AtomicLong txDropped = new AtomicLong();
    final AtomicLong txErrors = new AtomicLong();
    final AtomicLong rxFrames = new AtomicLong();
    final AtomicLong rxBytes = new AtomicLong();
    final AtomicLong rxDropped = new AtomicLong();
    final AtomicLong rxErrors = new AtomicLong();

    /** Frames sent to the backend (without their virtio-net header). */
    public long txFrames() {
        return txFrames.get();
    }

    public long txBytes() {
        return txBytes.get();
    }

    public long txDropped() {
        return txDropped.get();
    }

    public long txErrors() {
        return txErrors.get();
    }

    /** Frames delivered to the guest. */
    public long rxFrames() {
        return rxFrames.get();
    }

    public long rxBytes() {
        return rxBytes.get();
    }

    public long rxDropped() {
        return rxDropped.get();
    }

    public long rxErrors() {
        return rxErrors.get();
    }

    @Override
    public String toString() {
        return "tx " + txFrames() + " frames/" + txBytes() + " bytes (" + txDropped() + " dropped, " + txErrors() + " errors), rx "
                + rxFrames() + " frames/" + rxBytes() + " bytes (" + rxDropped() + " dropped, " + rxErrors() + " errors)";
    }
}
