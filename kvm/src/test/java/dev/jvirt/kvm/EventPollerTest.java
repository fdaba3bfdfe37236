package dev.jvirt.kvm;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EventPollerTest {

    @Test
    void reportsTheTokensOfSignalledEventFdsOnly() throws Exception {
        try (EventPoller poller = EventPoller.create(); EventFd a = EventFd.create(); EventFd b = EventFd.create(); EventFd c = EventFd.create()) {
            poller.add(a, 11);
            poller.add(b, 0x1_0000_0022L);
            poller.add(c, 33);
            a.signal();
            b.signal();
            List<Long> ready = new ArrayList<>();
            assertEquals(2, poller.await(1000, token -> ready.add(token)));
            assertTrue(ready.containsAll(List.of(11L, 0x1_0000_0022L)), ready.toString());
            a.consume();
            b.consume();
            assertEquals(0, poller.await(50, token -> ready.add(token)), "consumed: nothing is ready");
        }
    }

    @Test
    void removedEventFdIsNoLongerReported() throws Exception {
        try (EventPoller poller = EventPoller.create(); EventFd a = EventFd.create()) {
            poller.add(a, 1);
            poller.remove(a);
            a.signal();
            assertEquals(0, poller.await(50, token -> { }));
        }
    }

    @Test
    void awaitWakesWhenAnotherThreadSignals() throws Exception {
        try (EventPoller poller = EventPoller.create(); EventFd a = EventFd.create()) {
            poller.add(a, 7);
            Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                }
                a.signal();
            });
            long[] token = new long[1];
            assertEquals(1, poller.await(5000, t -> token[0] = t));
            assertEquals(7, token[0]);
        }
    }
}
