package dev.jvirt.virtio.pci;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.pci.MsixTable;
import dev.jvirt.virtio.VirtioInterrupts;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * How a virtio-pci device's interrupts reach the guest (virtio 1.2, section 4.1.5.3/4.1.5.4):
 * with MSI-X enabled, the vector the driver chose for the queue or for configuration changes;
 * otherwise a bit in the ISR status and the INTx line, held until the driver reads the ISR.
 *
 * <p>Device threads call {@link #usedBuffers} and {@link #configChanged}; vCPU threads program
 * vectors and read the ISR. The vector choice is lock-free (atomics); the ISR and the line level
 * share one small lock, so a read-and-clear racing a new interrupt can never leave the line
 * asserted with nothing to read (a level-triggered storm) or lowered with a bit still set.
 */
final class VirtioPciInterrupts implements VirtioInterrupts {

    static final int NO_VECTOR = 0xFFFF;
    static final int ISR_QUEUE = 1;
    static final int ISR_CONFIG = 2;

    private final MsixTable msix;
    private final InterruptLine intx;
    private final AtomicIntegerArray queueVectors;
    private volatile int configVector = NO_VECTOR;
    private final AtomicInteger generation = new AtomicInteger();

    private final Object isrLock = new Object();
    private int isr;
    private boolean intxDisabled;
    private boolean asserted;

    VirtioPciInterrupts(MsixTable msix, InterruptLine intx, int queueCount) {
        this.msix = msix;
        this.intx = intx;
        this.queueVectors = new AtomicIntegerArray(queueCount);
        for (int q = 0; q < queueCount; q++) {
            queueVectors.set(q, NO_VECTOR);
        }
    }

    @Override
    public void usedBuffers(int queue) {
        if (queue < 0 || queue >= queueVectors.length()) {
            return;
        }
        if (!msix.fire(queueVectors.get(queue))) {
            raise(ISR_QUEUE);
        }
    }

    @Override
    public void configChanged() {
        generation.incrementAndGet();
        signalConfig();
    }

    /** A configuration interrupt without a new generation (NEEDS_RESET is a status change, not a config change). */
    void signalConfig() {
        if (!msix.fire(configVector)) {
            raise(ISR_CONFIG);
        }
    }

    int generation() {
        return generation.get() & 0xFF;
    }

    /** The vector as the driver reads it back: a vector outside the table is NO_VECTOR, which Linux takes as "refused". */
    private int checked(int vector) {
        return vector >= 0 && vector < msix.size() ? vector : NO_VECTOR;
    }

    int configVector() {
        return configVector;
    }

    void setConfigVector(int vector) {
        configVector = checked(vector);
    }

    int queueVector(int queue) {
        return queueVectors.get(queue);
    }

    void setQueueVector(int queue, int vector) {
        queueVectors.set(queue, checked(vector));
    }

    /** The ISR status read: returns the bits and clears them, which also lowers INTx (section 4.1.4.5). */
    int readAndClearIsr() {
        synchronized (isrLock) {
            int value = isr;
            isr = 0;
            updateLine();
            return value;
        }
    }

    /** PCI COMMAND's INTx Disable bit: Linux sets it when it enables MSI-X. */
    void setIntxDisabled(boolean disabled) {
        synchronized (isrLock) {
            intxDisabled = disabled;
            updateLine();
        }
    }

    /** Device reset: no vectors chosen, nothing pending, the line low. */
    void reset() {
        configVector = NO_VECTOR;
        for (int q = 0; q < queueVectors.length(); q++) {
            queueVectors.set(q, NO_VECTOR);
        }
        msix.clearPending();
        synchronized (isrLock) {
            isr = 0;
            updateLine();
        }
    }

    private void raise(int bit) {
        synchronized (isrLock) {
            isr |= bit;
            updateLine();
        }
    }

    private void updateLine() {
        boolean level = isr != 0 && !intxDisabled;
        if (level != asserted) {
            asserted = level;
            intx.setLevel(level);
        }
    }
}
