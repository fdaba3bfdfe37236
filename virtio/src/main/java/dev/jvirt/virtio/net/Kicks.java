package dev.jvirt.virtio.net;

/**
 * A latched wake-up: a {@link #signal()} that arrives while nobody waits is kept, so the next
 * {@link #await} returns at once and a kick between "found nothing" and "wait" is never lost.
 */
final class Kicks {

    private boolean pending;

    synchronized void signal() {
        pending = true;
        notifyAll();
    }

    /** Waits for a signal (or {@code timeoutMillis}, if positive) and consumes it. */
    synchronized void await(long timeoutMillis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (!pending) {
            if (timeoutMillis <= 0) {
                wait();
            } else {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    return;
                }
                wait(left);
            }
        }
        pending = false;
    }
}
