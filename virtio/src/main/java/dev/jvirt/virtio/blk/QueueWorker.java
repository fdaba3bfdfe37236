package dev.jvirt.virtio.blk;

import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The thread that serves one request queue. Kicks arrive on vCPU (or ioeventfd) threads and only
 * wake it; disk I/O happens here, so a slow image never stalls a vCPU. The thread is a platform
 * thread that parks between kicks, and is never interrupted: an interrupt would close the image's
 * FileChannel under a request.
 *
 * <p>Reporting a broken queue calls into the transport (NEEDS_RESET, a config interrupt), which
 * may well take the lock it holds while it resets the device; {@link #stop()} therefore does not
 * wait for a worker that is inside that call. Such a worker touches nothing afterwards and ends
 * as soon as the call returns.
 */
final class QueueWorker {

    private static final System.Logger LOG = System.getLogger(QueueWorker.class.getName());

    /** What the device does when the guest broke the queue rules: NEEDS_RESET, once for the device. */
    interface Breakage {
        void broken(String why);

        boolean isBroken();
    }

    private final int index;
    private final Virtqueue queue;
    private final BlockRequestProcessor processor;
    private final VirtioInterrupts interrupts;
    private final Breakage breakage;
    private final Thread thread;
    private static final int RUNNING = 0;
    private static final int REPORTING = 1;
    private static final int STOPPED = 2;

    private final AtomicBoolean kicked = new AtomicBoolean();
    private final AtomicInteger state = new AtomicInteger(RUNNING);

    QueueWorker(String name, int index, Virtqueue queue, BlockRequestProcessor processor, VirtioInterrupts interrupts,
                Breakage breakage) {
        this.index = index;
        this.queue = queue;
        this.processor = processor;
        this.interrupts = interrupts;
        this.breakage = breakage;
        this.thread = Thread.ofPlatform().name(name).daemon().unstarted(this::run);
    }

    void start() {
        thread.start();
    }

    Thread thread() {
        return thread;
    }

    void kick() {
        kicked.set(true);
        LockSupport.unpark(thread);
    }

    /** Stops after the request in hand and waits for the thread to end. */
    void stop() {
        int previous = state.getAndSet(STOPPED);
        LockSupport.unpark(thread);
        if (previous == REPORTING || Thread.currentThread() == thread) {
            return;
        }
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        while (state.get() != STOPPED) {
            if (kicked.getAndSet(false)) {
                drain();
            } else {
                LockSupport.park(this);
            }
        }
    }

    /**
     * Serves what the driver made available, with kicks off while we are busy; turning them back
     * on re-checks the ring, since a request published in between would not have kicked.
     */
    private void drain() {
        try {
            boolean added = false;
            do {
                queue.disableNotification();
                DescriptorChain chain;
                while (running() && !breakage.isBroken() && (chain = queue.pop()) != null) {
                    int used = processor.process(chain);
                    queue.addUsed(chain.head(), used);
                    added = true;
                }
                if (!running() || breakage.isBroken()) {
                    return;
                }
            } while (queue.enableNotification());
            // Without EVENT_IDX the queue would say yes to an empty batch too (a kick with nothing new).
            if (added && queue.needsInterrupt()) {
                interrupts.usedBuffers(index);
            }
        } catch (VirtioException e) {
            report("queue " + index + ": " + e.getMessage());
        } catch (RuntimeException e) {
            // A bug, not the guest: still never let it kill the thread silently or reach a vCPU.
            LOG.log(System.Logger.Level.ERROR, "virtio-blk queue " + index + " failed", e);
            report("queue " + index + ": internal error " + e);
        }
    }

    private boolean running() {
        return state.get() == RUNNING;
    }

    /** A device being reset needs no NEEDS_RESET; otherwise stop() must know not to wait for us. */
    private void report(String why) {
        if (state.compareAndSet(RUNNING, REPORTING)) {
            try {
                breakage.broken(why);
            } finally {
                state.compareAndSet(REPORTING, RUNNING);
            }
        }
    }
}
