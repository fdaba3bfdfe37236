package dev.jvirt.daemon.vm;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvirt.daemon.domain.Domain;
import dev.jvirt.daemon.domain.DomainStore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs each active domain as its own {@code jvirt-vmm} process, in its own session so a daemon
 * restart never takes it down, and controls it over QMP. Exits are noticed through the process
 * and turned into libvirt states and the domain's on_poweroff/on_reboot/on_crash actions.
 * A restarted daemon finds running VMs again from their pid files and QMP sockets.
 */
public final class VmSupervisor {

    private final DomainStore domains;
    private final Path runDir;
    private final Path vmm;
    private final Map<String, RunningVm> running = new ConcurrentHashMap<>();
    private final AtomicInteger nextId = new AtomicInteger(1);

    private static final class RunningVm {
        final Domain domain;
        final ProcessHandle process;
        final QmpClient qmp;
        volatile String shutdownReason;
        volatile boolean destroyRequested;

        RunningVm(Domain domain, ProcessHandle process, QmpClient qmp) {
            this.domain = domain;
            this.process = process;
            this.qmp = qmp;
        }
    }

    public VmSupervisor(DomainStore domains, Path stateDir, Path vmm) throws IOException {
        this.domains = domains;
        this.runDir = stateDir.resolve("run");
        this.vmm = vmm;
        Files.createDirectories(runDir);
    }

    /** Re-attaches to VMs that kept running while the daemon was down. */
    public void reattach() {
        for (Domain domain : domains.all()) {
            Path pidFile = pidFile(domain);
            try {
                if (!Files.exists(pidFile)) {
                    forgetIfTransient(domain); // its VM ended while the daemon was down
                    continue;
                }
                String[] fields = Files.readString(pidFile).trim().split(" ");
                Optional<ProcessHandle> process = ProcessHandle.of(Long.parseLong(fields[0]));
                if (process.isEmpty() || !process.get().isAlive()) {
                    Files.deleteIfExists(pidFile);
                    forgetIfTransient(domain);
                    continue;
                }
                int id = Integer.parseInt(fields[1]);
                nextId.accumulateAndGet(id + 1, Math::max);
                RunningVm vm = attach(domain, process.get(), -1);
                String status = vm.qmp.execute("query-status").path("status").asText();
                domain.markRunning(id, Domain.RUNNING_UNPAUSED);
                if (status.equals("paused") || status.equals("prelaunch")) { // prelaunch: started with -S, never resumed
                    domain.markPaused();
                }
            } catch (IOException | RuntimeException e) {
                System.err.println("jvirtd: cannot re-attach to domain '" + domain.definition().name() + "': " + e.getMessage());
            }
        }
    }

    /**
     * Starts the autostart domains that are not running, once per host boot as libvirt does: a
     * daemon restart must not resurrect a domain the user shut down since. The boot is told by
     * the kernel's boot id, remembered in the run directory.
     */
    public void autostart() {
        Path marker = runDir.resolve("autostart-boot-id");
        String boot;
        try {
            boot = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim();
            if (Files.exists(marker) && Files.readString(marker).trim().equals(boot)) {
                return;
            }
        } catch (IOException e) {
            System.err.println("jvirtd: cannot tell whether this boot's autostart already ran (" + e.getMessage() + "); skipping it");
            return;
        }
        for (Domain domain : domains.all()) {
            if (domain.autostart() && !domain.isActive()) {
                try {
                    start(domain);
                } catch (VmStartException | IOException e) {
                    System.err.println("jvirtd: cannot autostart domain '" + domain.definition().name() + "': " + e.getMessage());
                }
            }
        }
        try {
            dev.jvirt.daemon.state.AtomicFiles.write(marker, boot + "\n");
        } catch (IOException e) {
            System.err.println("jvirtd: cannot record that autostart ran: " + e.getMessage());
        }
    }

    public void start(Domain domain) throws VmStartException, IOException {
        start(domain, -1, false);
    }

    /** Starts the domain with its vCPUs paused (virsh start --paused): it reads as paused (user) until resumed. */
    public void startPaused(Domain domain) throws VmStartException, IOException {
        start(domain, -1, true);
    }

    /** Starts the domain's VMM; {@code keepId} (when not -1) is the id to keep across a reboot, as libvirt's domains do. */
    private synchronized void start(Domain domain, int keepId, boolean paused) throws VmStartException, IOException {
        if (domain.isActive()) {
            throw new VmStartException("Requested operation is not valid: domain is already running");
        }
        String name = domain.definition().name();
        Path qmpSocket = runDir.resolve(name + ".qmp");
        Path console = runDir.resolve(name + ".console.log");
        Path vmmLog = runDir.resolve(name + ".log");
        Files.deleteIfExists(qmpSocket);
        List<String> command = new java.util.ArrayList<>(List.of("setsid"));
        command.addAll(VmmCommand.build(vmm, domain.definition(), qmpSocket, console, paused));
        Files.writeString(vmmLog, String.join(" ", command) + "\n");
        Process process = new ProcessBuilder(command)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(vmmLog.toFile()))
                .redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(qmpSocket)) {
            if (!process.isAlive()) {
                throw new VmStartException("jvirt-vmm failed to start: " + lastLine(vmmLog));
            }
            if (System.nanoTime() > deadline) {
                process.destroyForcibly();
                throw new VmStartException("jvirt-vmm did not open its QMP socket within 60 s");
            }
            sleep(20);
        }
        int id = keepId >= 0 ? keepId : nextId.getAndIncrement();
        Files.writeString(pidFile(domain), process.pid() + " " + id + "\n");
        domain.markRunning(id, Domain.RUNNING_BOOTED);
        try {
            attach(domain, process.toHandle(), id);
            if (paused) {
                domain.markPaused();
            }
        } catch (IOException e) {
            // A guest that ends at once (a triple fault, say) closes QMP before we connect: give it
            // a moment to finish exiting, and only then call the start a failure.
            boolean ended = false;
            try {
                ended = process.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
            }
            if (!ended) {
                process.destroyForcibly();
                domain.markShutoff(Domain.SHUTOFF_CRASHED);
                throw e;
            }
            // The guest started and already ended (a guest that dies at once): report how it ended.
            Files.deleteIfExists(pidFile(domain));
            domain.markShutoff(exitCode(process) == 0 ? Domain.SHUTOFF_SHUTDOWN : Domain.SHUTOFF_CRASHED);
        }
    }

    private RunningVm attach(Domain domain, ProcessHandle process, int id) throws IOException {
        String name = domain.definition().name();
        RunningVm[] holder = new RunningVm[1];
        QmpClient qmp = connectWithRetry(runDir.resolve(name + ".qmp"), process, event -> onEvent(holder[0], event));
        RunningVm vm = new RunningVm(domain, process, qmp);
        holder[0] = vm;
        running.put(name, vm);
        process.onExit().thenRun(() -> exited(vm));
        return vm;
    }

    /**
     * The socket file appears when the VMM binds it, a moment before it listens: a connection in
     * that moment is refused, so retry briefly while the VMM is alive.
     */
    private static QmpClient connectWithRetry(Path socket, ProcessHandle process, java.util.function.Consumer<JsonNode> events)
            throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                return QmpClient.connect(socket, events);
            } catch (java.net.ConnectException e) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    throw e;
                }
                sleep(20);
            }
        }
    }

    private void onEvent(RunningVm vm, JsonNode event) {
        if (vm == null) {
            return;
        }
        switch (event.path("event").asText()) {
            case "SHUTDOWN" -> vm.shutdownReason = event.at("/data/reason").asText();
            case "STOP" -> vm.domain.markPaused();
            case "RESUME" -> vm.domain.markRunning(vm.domain.id(), Domain.RUNNING_UNPAUSED);
            default -> { }
        }
    }

    private void exited(RunningVm vm) {
        Domain domain = vm.domain;
        running.remove(domain.definition().name(), vm);
        try {
            vm.qmp.close();
            Files.deleteIfExists(pidFile(domain));
        } catch (IOException ignored) {
            // best effort
        }
        int id = domain.id();
        String reason = vm.shutdownReason == null ? "" : vm.shutdownReason;
        if (vm.destroyRequested) {
            domain.markShutoff(Domain.SHUTOFF_DESTROYED);
            forgetIfTransient(domain);
            return;
        }
        boolean reset = reason.equals("guest-reset") || reason.equals("host-qmp-system-reset");
        boolean clean = reason.equals("guest-shutdown") || reason.equals("host-qmp-quit") || reset;
        String action = domain.definition().lifecycleAction(reset ? "reboot" : clean ? "poweroff" : "crash");
        domain.markShutoff(clean ? Domain.SHUTOFF_SHUTDOWN : Domain.SHUTOFF_CRASHED);
        if (action.equals("restart") && domains.byUuid(domain.definition().uuid()) != null) {
            try {
                start(domain, reset ? id : -1, false);
            } catch (VmStartException | IOException e) {
                System.err.println("jvirtd: cannot restart domain '" + domain.definition().name() + "': " + e.getMessage());
            }
        }
        forgetIfTransient(domain);
    }

    /** A transient domain exists only while it runs. */
    private void forgetIfTransient(Domain domain) {
        if (!domain.persistent() && !domain.isActive()) {
            try {
                domains.forget(domain);
            } catch (IOException e) {
                System.err.println("jvirtd: cannot drop transient domain '" + domain.definition().name() + "': " + e.getMessage());
            }
        }
    }

    public void destroy(Domain domain) throws IOException {
        RunningVm vm = require(domain);
        vm.destroyRequested = true;
        try {
            vm.qmp.execute("quit");
        } catch (IOException e) {
            // it may already be gone; the kill below makes sure
        }
        try {
            vm.process.onExit().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            vm.process.destroyForcibly();
            try {
                vm.process.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception ignored) {
                throw new IOException("jvirt-vmm process " + vm.process.pid() + " did not die");
            }
        }
        waitUntil(() -> !domain.isActive());
    }

    public void shutdown(Domain domain) throws IOException {
        require(domain).qmp.execute("system_powerdown");
    }

    public void reboot(Domain domain) throws IOException {
        require(domain).qmp.execute("system_reset");
    }

    public void suspend(Domain domain) throws IOException {
        require(domain).qmp.execute("stop");
        domain.markPaused();
    }

    public void resume(Domain domain) throws IOException {
        require(domain).qmp.execute("cont");
        domain.markRunning(domain.id(), Domain.RUNNING_UNPAUSED);
    }

    /** CPU time the domain's VMM process has used (all vCPU and device threads), 0 when it is not running. */
    public long cpuTimeNanos(Domain domain) {
        RunningVm vm = running.get(domain.definition().name());
        return vm == null ? 0 : vm.process.info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(0L);
    }

    /** Synchronized with {@link #start}: a domain that reads as running while its VMM is still starting is waited for. */
    private synchronized RunningVm require(Domain domain) throws IOException {
        RunningVm vm = running.get(domain.definition().name());
        if (vm == null) {
            throw new IOException("domain is not running");
        }
        return vm;
    }

    private static int exitCode(Process process) {
        try {
            return process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private Path pidFile(Domain domain) {
        return runDir.resolve(domain.definition().name() + ".pid");
    }

    private static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return lines.isEmpty() ? "(no output)" : lines.getLast();
        } catch (IOException e) {
            return "(no log)";
        }
    }

    private static void waitUntil(java.util.function.BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
            sleep(10);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
