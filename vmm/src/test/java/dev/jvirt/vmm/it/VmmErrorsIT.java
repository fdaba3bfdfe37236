package dev.jvirt.vmm.it;

import dev.jvirt.lab.TinyGuest;

import dev.jvirt.lab.Lab;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every way to start jvirt-vmm wrongly gets one line naming the problem and exit status 1. */
class VmmErrorsIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private record Outcome(int status, String stdout, String stderr) { }

    private static Outcome run(Map<String, String> env, String... args) throws Exception {
        try (VmmProcess vmm = VmmProcess.start(env, args)) {
            int status = vmm.awaitExit(TIMEOUT);
            return new Outcome(status, vmm.stdout(), vmm.stderr());
        }
    }

    private static void assertOneLineError(Outcome outcome, String expected) {
        assertEquals(1, outcome.status(), outcome.stderr());
        assertEquals(expected + "\n", outcome.stderr(), "exactly one line, no stack trace");
        assertFalse(outcome.stderr().contains("Exception"));
    }

    @Test
    void unknownOptionIsNamed() throws Exception {
        assertOneLineError(run(Map.of(), "-kernel", "/k", "-frobnicate"), "jvirt-vmm: -frobnicate: invalid option");
    }

    @Test
    void missingKernelFileIsNamed() throws Exception {
        Path missing = dir.resolve("no-such-bzImage");
        assertOneLineError(run(Map.of(), "-kernel", missing.toString()),
                "jvirt-vmm: could not load kernel '" + missing + "': No such file or directory");
    }

    @Test
    void fileThatIsNotAKernelIsNamed() throws Exception {
        Path text = dir.resolve("README.txt");
        Files.writeString(text, "this is not a kernel\n".repeat(100));
        assertOneLineError(run(Map.of(), "-kernel", text.toString()),
                "jvirt-vmm: " + text + ": not a Linux kernel image (no bzImage setup header, no ELF header)");
    }

    @Test
    void memoryTooSmallForTheKernelIsNamed() throws Exception {
        assumeTrue(Lab.isPrepared(), "the Debian kernel is fetched by scripts/setup");
        Outcome outcome = run(Map.of(), "-m", "16", "-kernel", Lab.kernel().toString());
        assertEquals(1, outcome.status(), outcome.stderr());
        assertTrue(outcome.stderr().matches("jvirt-vmm: -m 16 MiB is too small for the kernel \\(\\d+ MiB including its decompression space\\)\n"),
                outcome.stderr());
        Outcome withInitrd = run(Map.of(), "-m", "64", "-kernel", Lab.kernel().toString(), "-initrd", Lab.guestInitramfs().toString());
        assertEquals(1, withInitrd.status(), withInitrd.stderr());
        assertTrue(withInitrd.stderr().startsWith("jvirt-vmm: -m 64 MiB is too small for the kernel"), withInitrd.stderr());
    }

    @Test
    void kvmDeviceThatCannotBeOpenedIsNamed() throws Exception {
        Path kernel = TinyGuest.elf(dir, "tiny", TinyGuest.COUNTER);
        assertOneLineError(run(Map.of("JVIRT_KVM_DEVICE", dir.resolve("kvm").toString()), "-kernel", kernel.toString()),
                "jvirt-vmm: could not access KVM (" + dir.resolve("kvm") + "): No such file or directory (errno 2)");
        Path notADevice = dir.resolve("plain-file");
        Files.writeString(notADevice, "x");
        Outcome outcome = run(Map.of("JVIRT_KVM_DEVICE", notADevice.toString()), "-kernel", kernel.toString());
        assertEquals(1, outcome.status());
        assertTrue(outcome.stderr().startsWith("jvirt-vmm: could not access KVM (" + notADevice + "): KVM_GET_API_VERSION failed"),
                outcome.stderr());
    }
}
