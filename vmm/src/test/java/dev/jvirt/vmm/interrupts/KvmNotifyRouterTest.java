package dev.jvirt.vmm.interrupts;

import dev.jvirt.virtio.pci.NotifyRouter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KvmNotifyRouterTest {

    private final RecordingBackend kvm = new RecordingBackend();
    private final BlockingQueue<String> kicks = new LinkedBlockingQueue<>();
    private KvmNotifyRouter router;

    @AfterEach
    void close() {
        if (router != null) {
            router.close();
        }
    }

    private Runnable kick(String name) {
        return () -> kicks.add(name + "@" + Thread.currentThread().getName());
    }

    @Test
    void guestWriteRunsTheKickOnTheIoeventfdThread() throws Exception {
        router = new KvmNotifyRouter(kvm);
        assertNotNull(router.route(0xFE00_3000L, 2, kick("q0")));
        assertNotNull(router.route(0xFE00_3004L, 2, kick("q1")));
        assertTrue(kvm.guestWrites(0xFE00_3004L));
        assertEquals("q1@ioeventfd", kicks.poll(5, TimeUnit.SECONDS));
        assertTrue(kvm.guestWrites(0xFE00_3000L));
        assertEquals("q0@ioeventfd", kicks.poll(5, TimeUnit.SECONDS));
        assertNull(kicks.poll(100, TimeUnit.MILLISECONDS), "one kick per write burst");
    }

    @Test
    void closedRouteIsUnregisteredAndSilent() throws Exception {
        router = new KvmNotifyRouter(kvm);
        NotifyRouter.Route route = router.route(0xFE00_3000L, 2, kick("q0"));
        route.close();
        route.close();
        assertTrue(kvm.ioeventfds.isEmpty(), "KVM sends the writes back to MMIO exits");
        assertFalse(kvm.guestWrites(0xFE00_3000L));
        assertEquals(0, router.routeCount());
        assertNull(kicks.poll(100, TimeUnit.MILLISECONDS));
        assertNotNull(router.route(0xFE00_3000L, 2, kick("again")), "the address can be routed again");
    }

    @Test
    void refusedIoctlGivesNoRoute() throws Exception {
        router = new KvmNotifyRouter(kvm);
        kvm.refuseIoeventfd = true;
        assertNull(router.route(0xFE00_3000L, 2, kick("q0")));
        assertNull(router.route(0xFE00_3004L, 2, kick("q1")));
        assertEquals(0, router.routeCount());
    }

    @Test
    void lengthKvmCannotMatchGivesNoRoute() throws Exception {
        router = new KvmNotifyRouter(kvm);
        assertNull(router.route(0xFE00_3000L, 3, kick("q0")));
        assertNull(router.route(0xFE00_3000L, 0, kick("q0")));
        assertTrue(kvm.ioeventfds.isEmpty());
    }

    @Test
    void failingKickDoesNotStopTheOthers() throws Exception {
        router = new KvmNotifyRouter(kvm);
        router.route(0x1000, 2, () -> {
            throw new IllegalStateException("device bug");
        });
        router.route(0x2000, 2, kick("ok"));
        kvm.guestWrites(0x1000);
        kvm.guestWrites(0x2000);
        assertEquals("ok@ioeventfd", kicks.poll(5, TimeUnit.SECONDS));
    }

    @Test
    void closeStopsTheThreadAndReleasesEveryRoute() throws Exception {
        router = new KvmNotifyRouter(kvm);
        router.route(0x1000, 2, kick("q0"));
        router.route(0x2000, 4, kick("q1"));
        router.close();
        assertTrue(kvm.ioeventfds.isEmpty());
        assertFalse(Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals(KvmNotifyRouter.THREAD_NAME) && t.isAlive()));
        assertNull(router.route(0x3000, 2, kick("late")), "a closed router routes nothing");
    }

    @Test
    void aKickMayCloseItsOwnRoute() throws Exception {
        router = new KvmNotifyRouter(kvm);
        NotifyRouter.Route[] self = new NotifyRouter.Route[1];
        self[0] = router.route(0x1000, 2, () -> {
            self[0].close(); // a device reset triggered from its own kick
            kicks.add("closed");
        });
        kvm.guestWrites(0x1000);
        assertEquals("closed", kicks.poll(5, TimeUnit.SECONDS));
        assertTrue(kvm.ioeventfds.isEmpty());
        assertNotNull(router.route(0x2000, 2, kick("next")));
        kvm.guestWrites(0x2000);
        assertEquals("next@ioeventfd", kicks.poll(5, TimeUnit.SECONDS), "the event thread carries on");
    }
}
