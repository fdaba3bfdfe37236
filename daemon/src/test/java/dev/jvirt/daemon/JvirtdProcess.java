package dev.jvirt.daemon;

import dev.jvirt.lab.Lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A bin/jvirtd started for a test on a free loopback port, and helpers to run virsh against it. */
final class JvirtdProcess implements AutoCloseable {

    record Result(int status, String stdout, String stderr) { }

    final Process process;
    final int port;
    final Path stateDir;
    final String firstLine;
    /** What jvirtd wrote after its first line (its log), collected as it comes so the pipe never fills. */
    private final StringBuffer log = new StringBuffer();

    private JvirtdProcess(Process process, int port, Path stateDir, String firstLine, BufferedReader rest) {
        this.process = process;
        this.port = port;
        this.stateDir = stateDir;
        this.firstLine = firstLine;
        Thread.ofVirtual().start(() -> {
            try {
                for (String line; (line = rest.readLine()) != null; ) {
                    log.append(line).append('\n');
                }
            } catch (IOException e) {
                // jvirtd gone
            }
        });
    }

    /** jvirtd's output after its first line, so far. */
    String log() {
        return log.toString();
    }

    /** Starts jvirtd with extra options after the usual ones. */
    static JvirtdProcess startWith(Path stateDir, String... options) throws IOException {
        return start(stateDir, List.of(), java.util.Map.of(), List.of(options));
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    static JvirtdProcess start(Path stateDir) throws IOException {
        return start(stateDir, List.of());
    }

    /** Starts jvirtd behind {@code prefix} (e.g. nsenter into a network namespace). */
    static JvirtdProcess start(Path stateDir, List<String> prefix) throws IOException {
        return start(stateDir, prefix, java.util.Map.of());
    }

    /** Starts jvirtd behind {@code prefix} with extra environment (e.g. JVIRT_JAVA_OPTS). */
    static JvirtdProcess start(Path stateDir, List<String> prefix, java.util.Map<String, String> environment) throws IOException {
        return start(stateDir, prefix, environment, List.of());
    }

    private static JvirtdProcess start(Path stateDir, List<String> prefix, java.util.Map<String, String> environment,
            List<String> options) throws IOException {
        STATE_DIRS.add(stateDir);
        int port = freePort();
        List<String> command = new ArrayList<>(prefix);
        command.addAll(List.of(Lab.projectRoot().resolve("bin/jvirtd").toString(), "--state-dir", stateDir.toString(),
                "--listen", "127.0.0.1:" + port));
        command.addAll(options);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(environment);
        Process process = builder.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        return new JvirtdProcess(process, port, stateDir, line, out);
    }

    String tcpUri() {
        return "qemu+tcp://127.0.0.1:" + port + "/system";
    }

    String unixUri() {
        return "qemu+unix:///system?socket=" + stateDir.resolve("libvirt-sock");
    }

    static Result run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).start();
        process.getOutputStream().close();
        byte[] out = process.getInputStream().readAllBytes();
        byte[] err = process.getErrorStream().readAllBytes();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " hung");
        }
        return new Result(process.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    Result virsh(String uri, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("virsh", "-c", uri));
        command.addAll(List.of(args));
        return run(command.toArray(String[]::new));
    }

    /** virsh -q: no table headers, no informational messages. */
    Result virshQuiet(String uri, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("virsh", "-q", "-c", uri));
        command.addAll(List.of(args));
        return run(command.toArray(String[]::new));
    }

    /** Every state directory a test started jvirtd on, for {@link #killLeftoverVms()}. */
    private static final java.util.Set<Path> STATE_DIRS = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * Kills the jvirt-vmm processes still running for any state directory a test used. VMs outlive
     * jvirtd by design (a restarted daemon finds them), so a test that fails before its destroy
     * would otherwise leave them behind; test classes that start VMs call this after each test.
     */
    static void killLeftoverVms() throws IOException {
        for (Path stateDir : STATE_DIRS) {
            Path runDir = stateDir.resolve("run");
            if (!Files.isDirectory(runDir)) {
                continue;
            }
            try (var pidFiles = Files.newDirectoryStream(runDir, "*.pid")) {
                for (Path pidFile : pidFiles) {
                    if (pidFile.getFileName().toString().endsWith(".dnsmasq.pid")) {
                        continue;
                    }
                    String[] fields = Files.readString(pidFile).trim().split(" ");
                    ProcessHandle.of(Long.parseLong(fields[0]))
                            .filter(vm -> vm.info().commandLine().orElse("").contains("jvirt"))
                            .ifPresent(ProcessHandle::destroyForcibly);
                }
            }
        }
        STATE_DIRS.clear();
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        process.waitFor(20, TimeUnit.SECONDS);
        process.destroyForcibly();
    }
}
