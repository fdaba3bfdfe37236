package dev.jvirt.vmm.it;

import dev.jvirt.lab.Lab;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A running {@code bin/jvirt-vmm}, with its stdout and stderr collected as they arrive. */
final class VmmProcess implements AutoCloseable {

    private final Process process;
    private final StringBuffer stdout = new StringBuffer();
    private final StringBuffer stderr = new StringBuffer();

    private VmmProcess(Process process) {
        this.process = process;
        pump(process.getInputStream(), stdout);
        pump(process.getErrorStream(), stderr);
    }

    static VmmProcess start(String... args) throws IOException {
        return start(java.util.Map.of(), args);
    }

    static VmmProcess start(java.util.Map<String, String> env, String... args) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Lab.projectRoot().resolve("bin/jvirt-vmm").toString());
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(env);
        return new VmmProcess(builder.start());
    }

    private static void pump(InputStream in, StringBuffer into) {
        Thread.ofPlatform().daemon(true).start(() -> {
            byte[] buffer = new byte[4096];
            try {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    into.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
                }
            } catch (IOException ignored) {
                // process ended
            }
        });
    }

    String stdout() {
        return stdout.toString();
    }

    String stderr() {
        return stderr.toString();
    }

    OutputStream stdin() {
        return process.getOutputStream();
    }

    /** Waits until stdout contains {@code text}; fails with everything seen so far if it never does. */
    void awaitOutput(String text, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!stdout.toString().contains(text)) {
            if (System.nanoTime() > deadline || !process.isAlive() && !stdout.toString().contains(text)) {
                Thread.sleep(200);
                if (stdout.toString().contains(text)) {
                    return;
                }
                throw new AssertionError("'" + text + "' never appeared. stdout:\n" + stdout + "\nstderr:\n" + stderr);
            }
            Thread.sleep(20);
        }
    }

    /**
     * Sends SIGTERM, as kill(1) and libvirt's destroy do first. Through the ProcessHandle:
     * Process.destroy would also close our ends of its pipes, losing what it prints on the way out.
     */
    void terminate() {
        process.toHandle().destroy();
    }

    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("jvirt-vmm did not exit within " + timeout + ". stdout:\n" + stdout + "\nstderr:\n" + stderr);
        }
        Thread.sleep(100); // let the pumps drain
        return process.exitValue();
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
