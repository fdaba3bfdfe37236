package dev.jvirt.block;

import dev.jvirt.block.qcow2.Qcow2Creator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Kills a process in the middle of heavy allocating writes, many times at random moments, and has
 * the real qemu-img check the image after each kill: leaks are allowed, corruption is not.
 */
class CrashConsistencyTest {

    private static final int KILLS = 12;

    @TempDir
    Path dir;

    @Test
    void killedWriterNeverLeavesCorruption() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img not installed; scripts/setup installs it");
        Path image = dir.resolve("crash.qcow2");
        Qcow2Creator.create(image, new Qcow2Creator.Options(64 << 20, 65536, true, false, null, null));
        Random random = new Random(99);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        int leaky = 0;
        for (int kill = 0; kill < KILLS; kill++) {
            Process writer = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                    CrashWriter.class.getName(), image.toString(), Long.toString(kill)).redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(writer.getInputStream()));
            assertEquals("writing", out.readLine(), "writer started");
            Thread.sleep(100 + random.nextInt(1200));
            writer.destroyForcibly(); // SIGKILL: no shutdown hooks, no close()
            assertTrue(writer.waitFor(30, TimeUnit.SECONDS));

            Process check = new ProcessBuilder("qemu-img", "check", "--output=json", image.toString()).redirectErrorStream(true).start();
            String report = new String(check.getInputStream().readAllBytes());
            int status = check.waitFor();
            // qemu-img check: 0 clean, 3 leaks only; 2 means corruption, 1 an error.
            assertTrue(status == 0 || status == 3, "after kill " + kill + ", qemu-img check exited " + status + ":\n" + report);
            assertTrue(report.contains("\"corruptions\": 0") || !report.contains("corruptions"), report);
            if (status == 3) {
                leaky++;
            }
        }
        System.out.println("crash test: " + KILLS + " kills, " + leaky + " left leaked clusters, none corrupt");
    }
}
