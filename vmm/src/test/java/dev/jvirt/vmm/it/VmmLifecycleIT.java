package dev.jvirt.vmm.it;

import dev.jvirt.lab.TinyGuest;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The VMM's lifecycle with tiny guest programs on this host's /dev/kvm (no Linux needed, so these
 * run even where KVM only emulates): console output, QMP pause/resume, ACPI power-off, resets
 * (in place, and with -no-reboot), triple faults.
 */
class VmmLifecycleIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @BeforeAll
    static void needKvm() {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "/dev/kvm not accessible");
    }

    @Test
    void qmpStopAndContReallyPauseTheGuest() throws Exception {
        Path kernel = TinyGuest.elf(dir, "counter", TinyGuest.COUNTER);
        Path socket = dir.resolve("qmp.sock");
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic",
                "-qmp", "unix:" + socket + ",server,nowait");
             QmpClient qmp = QmpClient.connect(socket, 30_000)) {
            assertEquals(7, qmp.greeting.at("/QMP/version/qemu/major").asInt(), "QEMU-shaped greeting");
            assertEquals("CommandNotFound", qmp.execute("query-status").at("/error/class").asText(),
                    "commands are refused before capabilities negotiation");
            assertTrue(qmp.execute("qmp_capabilities").has("return"));
            vmm.awaitOutput("01234567", TIMEOUT);

            assertTrue(qmp.execute("stop").has("return"));
            qmp.awaitEvent("STOP");
            JsonNode status = qmp.execute("query-status").get("return");
            assertEquals("paused", status.get("status").asText());
            assertFalse(status.get("running").asBoolean());
            int pausedAt = vmm.stdout().length();
            Thread.sleep(1500);
            assertEquals(pausedAt, vmm.stdout().length(), "no guest output while paused");

            assertTrue(qmp.execute("cont").has("return"));
            qmp.awaitEvent("RESUME");
            assertEquals("running", qmp.execute("query-status").at("/return/status").asText());
            long deadline = System.currentTimeMillis() + 30_000;
            while (vmm.stdout().length() < pausedAt + 8 && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
            }
            assertTrue(vmm.stdout().length() >= pausedAt + 8, "the guest counts on after cont");

            JsonNode bad = qmp.sendRaw("{\"execute\": \"no-such-command\", \"id\": 7}\n");
            assertEquals("CommandNotFound", bad.at("/error/class").asText());
            assertEquals(7, bad.get("id").asInt(), "id is echoed");

            assertTrue(qmp.execute("quit").has("return"));
            assertEquals("host-qmp-quit", qmp.awaitEvent("SHUTDOWN").at("/data/reason").asText());
            assertEquals(0, vmm.awaitExit(TIMEOUT));
        }
    }

    @Test
    void sigtermEndsTheVmWithStatusZeroAsQemuDoes() throws Exception {
        Path kernel = TinyGuest.elf(dir, "counter", TinyGuest.COUNTER);
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic")) {
            vmm.awaitOutput("0123", TIMEOUT);
            vmm.terminate();
            assertEquals(0, vmm.awaitExit(TIMEOUT), vmm.stderr());
            assertTrue(vmm.stderr().contains("terminated by signal 15 (SIGTERM)"), vmm.stderr());
        }
    }

    @Test
    void acpiPoweroffEndsTheProcessWithStatusZero() throws Exception {
        int pm1Control = 0x604;
        int s5WithSleepEnable = (5 << 10) | (1 << 13);
        Path kernel = TinyGuest.elf(dir, "poweroff", TinyGuest.writePortThenSpin(pm1Control, s5WithSleepEnable));
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic")) {
            assertEquals(0, vmm.awaitExit(TIMEOUT), vmm.stderr());
            assertEquals("bye", vmm.stdout());
            assertEquals("", vmm.stderr(), "a guest power-off is not an error");
        }
    }

    @Test
    void systemPowerdownPressesTheAcpiPowerButton() throws Exception {
        Path kernel = TinyGuest.elf(dir, "button", TinyGuest.powerOffOnPowerButton());
        Path socket = dir.resolve("qmp.sock");
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic",
                "-qmp", "unix:" + socket + ",server,nowait");
             QmpClient qmp = QmpClient.connect(socket, 30_000)) {
            qmp.execute("qmp_capabilities");
            Thread.sleep(500);
            assertEquals("", vmm.stdout(), "the guest waits for the button");
            assertTrue(qmp.execute("system_powerdown").has("return"));
            qmp.awaitEvent("POWERDOWN");
            JsonNode shutdown = qmp.awaitEvent("SHUTDOWN");
            assertEquals("guest-shutdown", shutdown.at("/data/reason").asText());
            assertTrue(shutdown.at("/data/guest").asBoolean());
            assertEquals(0, vmm.awaitExit(TIMEOUT));
            assertEquals("bye", vmm.stdout());
        }
    }

    @Test
    void keyboardControllerResetEndsTheVmWithNoReboot() throws Exception {
        Path kernel = TinyGuest.elf(dir, "reset", TinyGuest.writePortThenSpin(0x64, 0xFE));
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic", "-no-reboot")) {
            assertEquals(0, vmm.awaitExit(TIMEOUT), vmm.stderr());
            assertEquals("bye", vmm.stdout());
        }
    }

    @Test
    void pciResetRebootsTheGuestFromItsEntryWithRamKept() throws Exception {
        // Two vCPUs, so the reset also puts an application processor back to wait-for-SIPI.
        Path kernel = TinyGuest.elf(dir, "reboot", TinyGuest.bootCounter(true));
        Path socket = dir.resolve("qmp.sock");
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-smp", "2", "-kernel", kernel.toString(), "-nographic", "-S",
                "-qmp", "unix:" + socket + ",server,wait");
             QmpClient qmp = QmpClient.connect(socket, 30_000)) {
            qmp.execute("qmp_capabilities");
            qmp.execute("cont"); // started paused (-S), so no event comes before QMP can report it
            JsonNode reset = qmp.awaitEvent("RESET");
            assertTrue(reset.at("/data/guest").asBoolean());
            assertEquals("guest-reset", reset.at("/data/reason").asText());
            assertEquals("guest-shutdown", qmp.awaitEvent("SHUTDOWN").at("/data/reason").asText());
            assertEquals(0, vmm.awaitExit(TIMEOUT), vmm.stderr());
            assertEquals("B1B2bye", vmm.stdout(), "booted twice, the count kept in RAM across the reset");
            assertEquals("", vmm.stderr());
        }
    }

    @Test
    void pciResetWithNoRebootEndsTheVmAsQemuDoes() throws Exception {
        Path kernel = TinyGuest.elf(dir, "reboot", TinyGuest.bootCounter(true));
        Path socket = dir.resolve("qmp.sock");
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic", "-S", "-no-reboot",
                "-qmp", "unix:" + socket + ",server,wait");
             QmpClient qmp = QmpClient.connect(socket, 30_000)) {
            qmp.execute("qmp_capabilities");
            qmp.execute("cont"); // started paused (-S), so no event comes before QMP can report it
            JsonNode shutdown = qmp.awaitEvent("SHUTDOWN");
            assertEquals("guest-reset", shutdown.at("/data/reason").asText());
            assertTrue(shutdown.at("/data/guest").asBoolean());
            assertEquals(0, vmm.awaitExit(TIMEOUT), vmm.stderr());
            assertEquals("B1", vmm.stdout());
        }
    }

    @Test
    void qmpSystemResetRebootsARunningGuestAndReportsReset() throws Exception {
        Path kernel = TinyGuest.elf(dir, "spin", TinyGuest.bootCounter(false));
        Path socket = dir.resolve("qmp.sock");
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic",
                "-qmp", "unix:" + socket + ",server,nowait");
             QmpClient qmp = QmpClient.connect(socket, 30_000)) {
            qmp.execute("qmp_capabilities");
            vmm.awaitOutput("B1", TIMEOUT);
            assertTrue(qmp.execute("system_reset").has("return"));
            JsonNode reset = qmp.awaitEvent("RESET");
            assertFalse(reset.at("/data/guest").asBoolean());
            assertEquals("host-qmp-system-reset", reset.at("/data/reason").asText());
            vmm.awaitOutput("B1B2", TIMEOUT);
            assertEquals("running", qmp.execute("query-status").at("/return/status").asText());

            assertTrue(qmp.execute("system_reset").has("return"));
            qmp.awaitEvent("RESET");
            vmm.awaitOutput("B1B2B3", TIMEOUT);
            assertTrue(qmp.execute("quit").has("return"));
            assertEquals(0, vmm.awaitExit(TIMEOUT));
        }
    }

    @Test
    void qmpSystemResetWithNoRebootEndsTheVm() throws Exception {
        Path kernel = TinyGuest.elf(dir, "spin", TinyGuest.bootCounter(false));
        Path socket = dir.resolve("qmp.sock");
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic", "-no-reboot",
                "-qmp", "unix:" + socket + ",server,nowait");
             QmpClient qmp = QmpClient.connect(socket, 30_000)) {
            qmp.execute("qmp_capabilities");
            vmm.awaitOutput("B1", TIMEOUT);
            assertTrue(qmp.execute("system_reset").has("return"));
            JsonNode shutdown = qmp.awaitEvent("SHUTDOWN");
            assertEquals("host-qmp-system-reset", shutdown.at("/data/reason").asText());
            assertFalse(shutdown.at("/data/guest").asBoolean());
            assertEquals(0, vmm.awaitExit(TIMEOUT));
        }
    }

    @Test
    void tripleFaultIsReportedWithRegistersAndFails() throws Exception {
        Path kernel = TinyGuest.elf(dir, "fault", TinyGuest.TRIPLE_FAULT);
        try (VmmProcess vmm = VmmProcess.start("-m", "16", "-kernel", kernel.toString(), "-nographic")) {
            assertEquals(1, vmm.awaitExit(TIMEOUT));
            assertTrue(vmm.stdout().contains("!"), "the guest ran before faulting");
            assertTrue(vmm.stderr().contains("triple fault"), vmm.stderr());
            assertTrue(vmm.stderr().contains("RIP="), "registers are dumped: " + vmm.stderr());
        }
    }
}
