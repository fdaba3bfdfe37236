package dev.jvirt.kvm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EventFdTest {

    @Test
    void countsSignalsUntilConsumed() throws Exception {
        try (EventFd eventFd = EventFd.create()) {
            assertEquals(0, eventFd.consume(), "nothing signalled: a non-blocking read finds nothing");
            assertTrue(eventFd.signal());
            assertTrue(eventFd.signal());
            assertTrue(eventFd.signal());
            assertEquals(3, eventFd.consume());
            assertEquals(0, eventFd.consume());
        }
    }

    @Test
    void awaitWakesOnASignalFromAnotherThread() throws Exception {
        try (EventFd eventFd = EventFd.create()) {
            Thread signaller = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                }
                eventFd.signal();
            });
            assertEquals(1, eventFd.await(5000));
            signaller.join();
        }
    }

    @Test
    void awaitTimesOutWithZero() throws Exception {
        try (EventFd eventFd = EventFd.create()) {
            long start = System.nanoTime();
            assertEquals(0, eventFd.await(150));
            assertTrue(System.nanoTime() - start >= 140_000_000L);
        }
    }

    @Test
    void closedEventFdIgnoresSignals() throws Exception {
        EventFd eventFd = EventFd.create();
        eventFd.close();
        assertFalse(eventFd.signal());
        assertEquals(0, eventFd.consume());
        eventFd.close();
    }
}
