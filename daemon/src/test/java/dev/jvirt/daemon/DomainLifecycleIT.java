package dev.jvirt.daemon;

import dev.jvirt.lab.TinyGuest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * virsh start/suspend/resume/shutdown/destroy through jvirtd, each domain a real jvirt-vmm process
 * on this host's /dev/kvm running a tiny guest program (so it runs even where KVM only emulates).
 */
class DomainLifecycleIT {

    @TempDir
    Path dir;

    @BeforeAll
    static void needKvmAndVirsh() {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "no /dev/kvm");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/virsh")), "virsh not installed");
    }

    private Path define(JvirtdProcess jvirtd, String name, byte[] program, String extra) throws Exception {
        Path kernel = TinyGuest.elf(dir, name + ".elf", program);
        Path xml = dir.resolve(name + ".xml");
        Files.writeString(xml, """
                <domain type='kvm'>
                  <name>%s</name>
                  <memory unit='MiB'>16</memory>
                  <vcpu>1</vcpu>
                  <os><type>hvm</type><kernel>%s</kernel></os>
                  %s
                </domain>
                """.formatted(name, kernel, extra));
        JvirtdProcess.Result result = jvirtd.virsh(jvirtd.tcpUri(), "define", xml.toString());
        assertEquals(0, result.status(), result.stderr());
        return kernel;
    }

    private static String state(JvirtdProcess jvirtd, String name) throws Exception {
        return jvirtd.virsh(jvirtd.tcpUri(), "domstate", "--reason", name).stdout().trim();
    }

    private static void awaitState(JvirtdProcess jvirtd, String name, String expected) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        String state = "";
        while (System.currentTimeMillis() < deadline) {
            state = state(jvirtd, name);
            if (state.equals(expected)) {
                return;
            }
            Thread.sleep(200);
        }
        assertEquals(expected, state, name);
    }

    private static JvirtdProcess.Result ok(JvirtdProcess.Result result) {
        assertEquals(0, result.status(), result.stdout() + result.stderr());
        return result;
    }

    private static long consoleLength(Path state, String name) throws Exception {
        Path console = state.resolve("run").resolve(name + ".console.log");
        return Files.exists(console) ? Files.size(console) : 0;
    }

    private static void awaitGrowth(Supplier<Long> size, long from) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (size.get() <= from + 8 && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        assertTrue(size.get() > from + 8, "console output grows: " + from + " -> " + size.get());
    }

    @Test
    void startSuspendResumeDestroyAndCrashes() throws Exception {
        Path state = dir.resolve("state");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state)) {
            String uri = jvirtd.tcpUri();
            define(jvirtd, "counter", TinyGuest.COUNTER, "");
            assertTrue(ok(jvirtd.virsh(uri, "start", "counter")).stdout().contains("Domain 'counter' started"));
            assertEquals("running (booted)", state(jvirtd, "counter"));
            assertTrue(jvirtd.virshQuiet(uri, "list").stdout().matches("\\s*1\\s+counter\\s+running\\s*"), "listed with id 1");
            assertTrue(ok(jvirtd.virsh(uri, "dumpxml", "counter")).stdout().startsWith("<domain type=\"kvm\" id=\"1\">"), "live XML has the id");
            assertTrue(ok(jvirtd.virsh(uri, "dumpxml", "--inactive", "counter")).stdout().startsWith("<domain type=\"kvm\">"));
            Supplier<Long> console = () -> {
                try {
                    return consoleLength(state, "counter");
                } catch (Exception e) {
                    return -1L;
                }
            };
            awaitGrowth(console, 0);

            String info = ok(jvirtd.virsh(uri, "dominfo", "counter")).stdout();
            assertTrue(info.matches("(?s).*CPU time:\\s+\\d+\\.\\ds.*") && !info.matches("(?s).*CPU time:\\s+0\\.0s.*"),
                    "the VMM's CPU time is reported: " + info);
            ok(jvirtd.virsh(uri, "suspend", "counter"));
            assertEquals("paused (user)", state(jvirtd, "counter"));
            long paused = console.get();
            Thread.sleep(1500);
            assertEquals(paused, console.get(), "a suspended guest prints nothing");
            ok(jvirtd.virsh(uri, "resume", "counter"));
            assertEquals("running (unpaused)", state(jvirtd, "counter"));
            awaitGrowth(console, paused);

            ok(jvirtd.virsh(uri, "reboot", "counter"));
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline && !state(jvirtd, "counter").equals("running (booted)")) {
                Thread.sleep(100);
            }
            assertEquals("running (booted)", state(jvirtd, "counter"), "on_reboot=restart (the default) starts a new VMM");
            assertTrue(jvirtd.virshQuiet(uri, "list").stdout().matches("\\s*1\\s+counter\\s+running\\s*"), "and keeps the id");
            awaitGrowth(console, 0);

            JvirtdProcess.Result refused = jvirtd.virsh(uri, "undefine", "counter");
            assertEquals(1, refused.status(), "a running domain cannot be undefined");
            ok(jvirtd.virsh(uri, "destroy", "counter"));
            assertEquals("shut off (destroyed)", state(jvirtd, "counter"));
            assertEquals(1, jvirtd.virsh(uri, "suspend", "counter").status(), "suspending a shut-off domain fails");

            define(jvirtd, "faulty", TinyGuest.TRIPLE_FAULT, "");
            ok(jvirtd.virsh(uri, "start", "faulty"));
            awaitState(jvirtd, "faulty", "shut off (crashed)");
        }
    }

    @Test
    void shutdownPressesThePowerButtonAndRestartedDaemonsKeepRunningVms() throws Exception {
        Path state = dir.resolve("state");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state)) {
            define(jvirtd, "button", TinyGuest.powerOffOnPowerButton(), "");
            ok(jvirtd.virsh(jvirtd.tcpUri(), "start", "button"));
            ok(jvirtd.virsh(jvirtd.tcpUri(), "shutdown", "button"));
            awaitState(jvirtd, "button", "shut off (shutdown)");

            define(jvirtd, "survivor", TinyGuest.COUNTER, "");
            ok(jvirtd.virsh(jvirtd.tcpUri(), "start", "survivor"));
        }
        try (JvirtdProcess again = JvirtdProcess.start(state)) {
            assertEquals("running (unpaused)", state(again, "survivor"), "the VM outlived the daemon and was found again");
            ok(again.virsh(again.tcpUri(), "suspend", "survivor"));
            assertEquals("paused (user)", state(again, "survivor"));
            ok(again.virsh(again.tcpUri(), "destroy", "survivor"));
            assertEquals("shut off (destroyed)", state(again, "survivor"));
        }
    }

    @Test
    void autostartDomainsStartOncePerHostBoot() throws Exception {
        Path state = dir.resolve("state");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state)) {
            define(jvirtd, "auto", TinyGuest.COUNTER, "");
            ok(jvirtd.virsh(jvirtd.tcpUri(), "autostart", "auto"));
        }
        try (JvirtdProcess sameBoot = JvirtdProcess.start(state)) {
            Thread.sleep(1000);
            assertEquals("shut off (unknown)", state(sameBoot, "auto"), "a daemon restart within the same boot starts nothing");
        }
        Files.writeString(state.resolve("run/autostart-boot-id"), "an-earlier-boot\n"); // as after a host reboot
        try (JvirtdProcess afterReboot = JvirtdProcess.start(state)) {
            awaitState(afterReboot, "auto", "running (booted)");
            ok(afterReboot.virsh(afterReboot.tcpUri(), "destroy", "auto"));
        }
    }

    private static final String WATCH_EVENTS = """
            import libvirt, sys, threading
            libvirt.virEventRegisterDefaultImpl()
            conn = libvirt.open(sys.argv[1])
            done = threading.Event()
            def lifecycle(conn, dom, event, detail, opaque):
                print(dom.name(), event, detail, flush=True)
                if event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
                    done.set()
            conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None)
            print('registered', flush=True)
            while not done.is_set():
                libvirt.virEventRunDefaultImpl()
            """;

    @Test
    void lifecycleEventsReachLibvirtPython() throws Exception {
        assumeTrue(JvirtdProcess.run("/usr/bin/python3", "-c", "import libvirt").status() == 0, "python3-libvirt not installed");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"))) {
            String uri = jvirtd.tcpUri();
            Process watcher = new ProcessBuilder("/usr/bin/python3", "-c", WATCH_EVENTS, uri).redirectErrorStream(true).start();
            try {
                java.io.BufferedReader events = new java.io.BufferedReader(new java.io.InputStreamReader(watcher.getInputStream()));
                assertEquals("registered", events.readLine());
                define(jvirtd, "watched", TinyGuest.COUNTER, "");
                ok(jvirtd.virsh(uri, "start", "watched"));
                ok(jvirtd.virsh(uri, "suspend", "watched"));
                ok(jvirtd.virsh(uri, "resume", "watched"));
                ok(jvirtd.virsh(uri, "destroy", "watched"));
                ok(jvirtd.virsh(uri, "undefine", "watched"));
                assertTrue(watcher.waitFor(20, java.util.concurrent.TimeUnit.SECONDS), "the watcher saw the undefine");
                // virDomainEventType with its detail: defined/added, started/booted, suspended/paused,
                // resumed/unpaused, stopped/destroyed, undefined/removed
                assertEquals(java.util.List.of("watched 0 0", "watched 2 0", "watched 3 0", "watched 4 0", "watched 5 1", "watched 1 0"),
                        events.lines().toList());
            } finally {
                watcher.destroyForcibly();
            }
        }
    }
}
