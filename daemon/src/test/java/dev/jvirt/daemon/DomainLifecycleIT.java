package dev.jvirt.daemon;

import dev.jvirt.lab.TinyGuest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * virsh start/suspend/resume/shutdown/destroy through jvirtd, each domain a real jvirt-vmm process
 * on this host's /dev/kvm running a tiny guest program (so it runs even where KVM only emulates).
 */
class DomainLifecycleIT {

    @AfterEach
    void killVmsATestLeftBehind() throws Exception {
        JvirtdProcess.killLeftoverVms();
    }

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

            ok(jvirtd.virsh(uri, "destroy", "counter"));
            assertEquals("shut off (destroyed)", state(jvirtd, "counter"));
            assertEquals(1, jvirtd.virsh(uri, "suspend", "counter").status(), "suspending a shut-off domain fails");

            define(jvirtd, "faulty", TinyGuest.TRIPLE_FAULT, "");
            ok(jvirtd.virsh(uri, "start", "faulty"));
            awaitState(jvirtd, "faulty", "shut off (crashed)");
        }
    }

    private Path domainXml(String name, byte[] program) throws Exception {
        Path kernel = TinyGuest.elf(dir, name + ".elf", program);
        Path xml = dir.resolve(name + ".xml");
        Files.writeString(xml, """
                <domain type='kvm'>
                  <name>%s</name>
                  <memory unit='MiB'>16</memory>
                  <vcpu>1</vcpu>
                  <os><type>hvm</type><kernel>%s</kernel></os>
                </domain>
                """.formatted(name, kernel));
        return xml;
    }

    private static String persistentLine(JvirtdProcess jvirtd, String name) throws Exception {
        return ok(jvirtd.virsh(jvirtd.tcpUri(), "dominfo", name)).stdout().lines()
                .filter(line -> line.startsWith("Persistent:")).findFirst().orElse("(no Persistent line)").replaceAll("\\s+", " ");
    }

    private static void assertGone(JvirtdProcess jvirtd, String name) throws Exception {
        assertEquals("", jvirtd.virshQuiet(jvirtd.tcpUri(), "list", "--all", "--name").stdout().trim(), "no domain left");
        JvirtdProcess.Result lookup = jvirtd.virsh(jvirtd.tcpUri(), "dominfo", name);
        assertEquals(1, lookup.status());
        assertTrue(lookup.stderr().contains("failed to get domain '" + name + "'"), lookup.stderr());
        try (var left = Files.list(jvirtd.stateDir.resolve("domains/transient"))) {
            assertEquals(List.of(), left.filter(f -> !f.getFileName().toString().startsWith(".")).toList(), "no transient definition left");
        }
    }

    @Test
    void createdDomainsAreTransient() throws Exception {
        try (JvirtdProcess jvirtd = JvirtdProcess.start(dir.resolve("state"))) {
            String uri = jvirtd.tcpUri();
            Path xml = domainXml("fleeting", TinyGuest.COUNTER);
            assertTrue(ok(jvirtd.virsh(uri, "create", xml.toString())).stdout().contains("Domain 'fleeting' created from " + xml));
            assertEquals("running (booted)", state(jvirtd, "fleeting"));
            assertTrue(jvirtd.virshQuiet(uri, "list").stdout().matches("\\s*1\\s+fleeting\\s+running\\s*"), "listed with id 1");
            assertEquals("Persistent: no", persistentLine(jvirtd, "fleeting"));
            assertEquals("fleeting", jvirtd.virshQuiet(uri, "list", "--transient", "--name").stdout().trim());
            assertEquals("", jvirtd.virshQuiet(uri, "list", "--all", "--persistent", "--name").stdout().trim());

            JvirtdProcess.Result undefine = jvirtd.virsh(uri, "undefine", "fleeting");
            assertEquals(1, undefine.status());
            assertTrue(undefine.stderr().contains("cannot undefine transient domain"), undefine.stderr());
            JvirtdProcess.Result autostart = jvirtd.virsh(uri, "autostart", "fleeting");
            assertEquals(1, autostart.status());
            assertTrue(autostart.stderr().contains("cannot set autostart for transient domain"), autostart.stderr());
            JvirtdProcess.Result config = jvirtd.virsh(uri, "setvcpus", "fleeting", "1", "--config");
            assertEquals(1, config.status());
            assertTrue(config.stderr().contains("transient domains do not have any persistent config"), config.stderr());

            JvirtdProcess.Result twice = jvirtd.virsh(uri, "create", xml.toString());
            assertEquals(1, twice.status(), "a second create of a running name fails");
            assertTrue(twice.stderr().contains("already exists"), twice.stderr());

            ok(jvirtd.virsh(uri, "destroy", "fleeting"));
            assertGone(jvirtd, "fleeting");

            Path broken = dir.resolve("broken.xml");
            Files.writeString(broken, Files.readString(xml).replace("fleeting", "broken").replaceAll("<kernel>.*</kernel>", ""));
            JvirtdProcess.Result cannotStart = jvirtd.virsh(uri, "create", broken.toString());
            assertEquals(1, cannotStart.status());
            assertTrue(cannotStart.stderr().contains("has no <os><kernel>"), cannotStart.stderr());
            assertGone(jvirtd, "broken");
        }
    }

    @Test
    void startAndCreatePausedWaitForResume() throws Exception {
        Path state = dir.resolve("state");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state)) {
            String uri = jvirtd.tcpUri();
            Supplier<Long> console = () -> {
                try {
                    return consoleLength(state, "held");
                } catch (Exception e) {
                    return -1L;
                }
            };
            define(jvirtd, "held", TinyGuest.COUNTER, "");
            ok(jvirtd.virsh(uri, "start", "--paused", "held"));
            assertEquals("paused (user)", state(jvirtd, "held"));
            Thread.sleep(1500);
            assertEquals(0L, console.get(), "a guest started paused has run nothing");
            ok(jvirtd.virsh(uri, "resume", "held"));
            assertEquals("running (unpaused)", state(jvirtd, "held"));
            awaitGrowth(console, 0);
            ok(jvirtd.virsh(uri, "destroy", "held"));
            ok(jvirtd.virsh(uri, "undefine", "held"));

            Path xml = domainXml("held", TinyGuest.COUNTER);
            ok(jvirtd.virsh(uri, "create", "--paused", xml.toString()));
            assertEquals("paused (user)", state(jvirtd, "held"));
            Thread.sleep(1500);
            assertEquals(0L, console.get(), "a guest created paused has run nothing");
            assertEquals("Persistent: no", persistentLine(jvirtd, "held"));
        }
        try (JvirtdProcess again = JvirtdProcess.start(state)) {
            assertEquals("paused (user)", state(again, "held"), "a restarted daemon finds the VM still waiting to launch");
            ok(again.virsh(again.tcpUri(), "resume", "held"));
            assertEquals("running (unpaused)", state(again, "held"));
            awaitGrowth(() -> {
                try {
                    return consoleLength(state, "held");
                } catch (Exception e) {
                    return -1L;
                }
            }, 0);
            ok(again.virsh(again.tcpUri(), "destroy", "held"));
            assertGone(again, "held");
        }
    }

    @Test
    void undefiningARunningDomainLeavesItRunningAsTransient() throws Exception {
        Path state = dir.resolve("state");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state)) {
            String uri = jvirtd.tcpUri();
            define(jvirtd, "orphan", TinyGuest.COUNTER, "");
            ok(jvirtd.virsh(uri, "autostart", "orphan"));
            ok(jvirtd.virsh(uri, "start", "orphan"));
            assertEquals("Persistent: yes", persistentLine(jvirtd, "orphan"));
            assertTrue(ok(jvirtd.virsh(uri, "undefine", "orphan")).stdout().contains("Domain 'orphan' has been undefined"));
            assertEquals("running (booted)", state(jvirtd, "orphan"), "undefine does not stop it");
            assertEquals("Persistent: no", persistentLine(jvirtd, "orphan"));
            assertTrue(ok(jvirtd.virsh(uri, "dominfo", "orphan")).stdout().matches("(?s).*Autostart:\\s+disable.*"), "no autostart left");
            assertFalse(Files.exists(state.resolve("domains/orphan.xml")), "the persistent definition is gone");

            define(jvirtd, "survivor", TinyGuest.COUNTER, "");
            ok(jvirtd.virsh(uri, "start", "survivor"));
            ok(jvirtd.virsh(uri, "undefine", "survivor"));
        }
        try (JvirtdProcess again = JvirtdProcess.start(state)) {
            String uri = again.tcpUri();
            assertEquals("orphan\nsurvivor", again.virshQuiet(uri, "list", "--name").stdout().trim(),
                    "a restarted daemon still lists the running transient domains");
            assertEquals("running (unpaused)", state(again, "orphan"));
            assertEquals("Persistent: no", persistentLine(again, "orphan"));
            ok(again.virsh(uri, "destroy", "orphan"));
            assertEquals("survivor", again.virshQuiet(uri, "list", "--all", "--name").stdout().trim(), "orphan is gone once stopped");

            Path dumped = dir.resolve("survivor-dumped.xml"); // with its UUID: a new one would be another domain
            Files.writeString(dumped, ok(again.virsh(uri, "dumpxml", "--inactive", "survivor")).stdout());
            ok(again.virsh(uri, "define", dumped.toString()));
            assertEquals("Persistent: yes", persistentLine(again, "survivor"), "defining it again makes it persistent");
            ok(again.virsh(uri, "destroy", "survivor"));
            assertEquals("shut off (destroyed)", state(again, "survivor"), "and it stays defined after it stops");
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
