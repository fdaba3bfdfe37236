package dev.jvirt.daemon.vm;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvirt.daemon.domain.Domain;
import dev.jvirt.daemon.domain.DomainDefinition;
import dev.jvirt.daemon.domain.DomainDevices;
import dev.jvirt.daemon.domain.DomainXmlException;
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
    private final DeviceResources resources;
    private final TapNames taps = new TapNames();

    private static final class RunningVm {
        final Domain domain;
        final ProcessHandle process;
        final QmpClient qmp;
        volatile String shutdownReason;
        volatile boolean destroyRequested;
        volatile boolean resetRequested;
        /** The live definition (aliases, taps, PCI addresses); changed under this object's monitor. */
        volatile DomainDefinition live;
        /** Hot-plug requests one at a time, without holding the monitor across QMP round trips. */
        final Object hotplug = new Object();
        int hotplugSerial;
        volatile boolean statsPolling;

        RunningVm(Domain domain, ProcessHandle process, QmpClient qmp) {
            this.domain = domain;
            this.process = process;
            this.qmp = qmp;
        }
    }

    public VmSupervisor(DomainStore domains, Path stateDir, Path vmm) throws IOException {
        this(domains, stateDir, vmm, DeviceResources.NONE);
    }

    /** {@code resources}: where volumes and networks named by domain devices are looked up. */
    public VmSupervisor(DomainStore domains, Path stateDir, Path vmm, DeviceResources resources) throws IOException {
        this.domains = domains;
        this.resources = resources;
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
                vm.live = savedLiveDefinition(domain);
                refreshBalloon(vm);
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
        List<String> tapsTaken = new java.util.ArrayList<>();
        DomainDefinition live;
        Process process;
        try {
            live = LiveDefinition.prepare(domain.definition(), resources, taps, true, tapsTaken);
            List<String> command = new java.util.ArrayList<>(List.of("setsid"));
            command.addAll(VmmCommand.build(vmm, live, qmpSocket, console, paused, resources));
            Files.writeString(vmmLog, String.join(" ", command) + "\n");
            process = new ProcessBuilder(command)
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
        } finally {
            tapsTaken.forEach(taps::release); // the VMM has made its taps by now (or never will): the host's list says which
        }
        int id = keepId >= 0 ? keepId : nextId.getAndIncrement();
        Files.writeString(pidFile(domain), process.pid() + " " + id + "\n");
        domain.markRunning(id, Domain.RUNNING_BOOTED);
        try {
            RunningVm vm = attach(domain, process.toHandle(), id);
            vm.live = live;
            placeDevices(vm);
            startStatsPolling(vm);
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
            case "DEVICE_DELETED" -> deviceDeleted(vm, event.at("/data/device").asText());
            case "BALLOON_CHANGE" -> balloonChanged(vm, event.at("/data/actual").asLong());
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
            Files.deleteIfExists(liveFile(domain));
        } catch (IOException ignored) {
            // best effort
        }
        int id = domain.id();
        String reason = vm.shutdownReason != null ? vm.shutdownReason : vm.resetRequested ? "host-qmp-system-reset" : "";
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

    /**
     * jvirt-vmm resets by ending its process (as QEMU with -no-reboot) and this supervisor starts
     * a new one; the VMM may close QMP before its answer or the SHUTDOWN event gets out, so the
     * request itself says why the process ended.
     */
    public void reboot(Domain domain) throws IOException {
        RunningVm vm = require(domain);
        vm.resetRequested = true;
        try {
            vm.qmp.execute("system_reset");
        } catch (IOException e) {
            try {
                vm.process.onExit().get(5, TimeUnit.SECONDS);
            } catch (Exception notEnding) {
                vm.resetRequested = false;
                throw e;
            }
        }
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

    /** The running domain's live definition (aliases, taps, addresses, balloon size), or null when it is not running. */
    public DomainDefinition liveDefinition(Domain domain) {
        RunningVm vm = running.get(domain.definition().name());
        return vm == null ? null : vm.live;
    }

    private Path liveFile(Domain domain) {
        return runDir.resolve(domain.definition().name() + ".live.xml");
    }

    /** Kept beside the pid file, as libvirt keeps its status XML, so a restarted daemon knows the taps and aliases. */
    private void saveLive(RunningVm vm) {
        try {
            dev.jvirt.daemon.state.AtomicFiles.write(liveFile(vm.domain), vm.live.toXml());
        } catch (IOException e) {
            System.err.println("jvirtd: cannot record the live definition of '" + vm.domain.definition().name() + "': " + e.getMessage());
        }
    }

    private DomainDefinition savedLiveDefinition(Domain domain) {
        try {
            if (Files.exists(liveFile(domain))) {
                return DomainDefinition.parse(Files.readString(liveFile(domain)));
            }
        } catch (IOException | DomainXmlException e) {
            System.err.println("jvirtd: ignoring the saved live definition of '" + domain.definition().name() + "': " + e.getMessage());
        }
        return domain.definition();
    }

    /** The PCI slots jvirt-vmm gave the devices (query-pci), written into the live definition as libvirt shows them. */
    private void placeDevices(RunningVm vm) {
        try {
            Map<String, Integer> slots = new java.util.HashMap<>();
            for (JsonNode bus : vm.qmp.execute("query-pci")) {
                for (JsonNode device : bus.path("devices")) {
                    String id = device.path("qdev_id").asText("");
                    if (!id.isEmpty()) {
                        slots.put(id, device.path("slot").asInt());
                    }
                }
            }
            synchronized (vm) {
                vm.live = LiveDefinition.withAddresses(vm.live, slots);
            }
        } catch (IOException | DomainXmlException e) {
            System.err.println("jvirtd: cannot read the PCI addresses of '" + vm.domain.definition().name() + "': " + e.getMessage());
        }
        saveLive(vm);
    }

    /** {@code <memballoon><stats period='N'/>}: the guest is asked for statistics every N seconds from the start. */
    private void startStatsPolling(RunningVm vm) {
        try {
            DomainDevices.Balloon balloon = vm.live.balloon();
            if (balloon != null && balloon.statsPeriod() > 0) {
                setStatsPeriod(vm, balloon, balloon.statsPeriod());
            }
        } catch (IOException | DomainXmlException e) {
            System.err.println("jvirtd: cannot start balloon statistics for '" + vm.domain.definition().name() + "': " + e.getMessage());
        }
    }

    private static void setStatsPeriod(RunningVm vm, DomainDevices.Balloon balloon, int seconds) throws IOException {
        vm.qmp.execute("qom-set", QmpClient.arguments().put("path", "/machine/peripheral/" + balloon.alias())
                .put("property", "guest-stats-polling-interval").put("value", seconds));
        vm.statsPolling = seconds > 0;
    }

    private void refreshBalloon(RunningVm vm) {
        try {
            if (vm.live.balloon() != null) {
                balloonChanged(vm, vm.qmp.execute("query-balloon").path("actual").asLong());
            }
        } catch (IOException | DomainXmlException e) {
            // no balloon answer: the live definition's size stands
        }
    }

    private void balloonChanged(RunningVm vm, long actualBytes) {
        if (vm == null || vm.live == null || actualBytes <= 0) {
            return;
        }
        synchronized (vm) {
            try {
                vm.live = vm.live.withCurrentMemory(actualBytes / 1024);
            } catch (DomainXmlException e) {
                System.err.println("jvirtd: balloon size " + actualBytes + " not recorded: " + e.getMessage());
            }
        }
    }

    private void deviceDeleted(RunningVm vm, String alias) {
        if (vm.live == null) {
            return;
        }
        synchronized (vm) {
            try {
                vm.live = vm.live.withoutAlias(alias);
            } catch (DomainXmlException e) {
                System.err.println("jvirtd: device " + alias + " not removed from the live definition: " + e.getMessage());
            }
            vm.notifyAll();
        }
        saveLive(vm);
    }

    /** virsh setmem --live: the balloon's target, in KiB of guest memory (the guest gives up the rest). */
    public void setMemory(Domain domain, long kib) throws IOException, VmOperationException {
        RunningVm vm = require(domain);
        try {
            if (vm.live.balloon() == null) {
                throw new VmOperationException("Requested operation is not valid: Unable to change memory of active domain"
                        + " without the balloon device", true);
            }
        } catch (DomainXmlException e) {
            throw new VmOperationException(e.getMessage(), false);
        }
        if (kib > vm.live.memoryKiB()) {
            throw new VmOperationException("invalid argument: cannot set memory higher than max memory (" + kib + " > "
                    + vm.live.memoryKiB() + " KiB)", true);
        }
        vm.qmp.execute("balloon", QmpClient.arguments().put("value", kib * 1024));
    }

    /**
     * virsh dommemstat: virDomainMemoryStatTags and values as libvirt's qemu driver reports them
     * (memory in KiB): the balloon's size, the guest's own statistics (polling is switched on at
     * the first request when the definition set no period, so later requests have them), and the
     * VMM's resident set.
     */
    public List<long[]> memoryStats(Domain domain) throws IOException {
        RunningVm vm = require(domain);
        List<long[]> stats = new java.util.ArrayList<>();
        DomainDevices.Balloon balloon;
        try {
            balloon = vm.live.balloon();
        } catch (DomainXmlException e) {
            balloon = null;
        }
        if (balloon != null) {
            long actual = vm.qmp.execute("query-balloon").path("actual").asLong();
            stats.add(new long[] {6, actual / 1024}); // ACTUAL_BALLOON
            if (!vm.statsPolling) {
                setStatsPeriod(vm, balloon, 5);
            }
            JsonNode reply = vm.qmp.execute("qom-get", QmpClient.arguments().put("path", "/machine/peripheral/" + balloon.alias())
                    .put("property", "guest-stats"));
            stats.addAll(MemoryStats.fromGuestStats(reply));
        } else {
            stats.add(new long[] {6, vm.live.currentMemoryKiB()});
        }
        long rss = MemoryStats.residentKiB(vm.process.pid());
        if (rss >= 0) {
            stats.add(new long[] {7, rss}); // RSS
        }
        return stats;
    }

    /** virsh dommemstat --period: how often the guest reports its statistics (0 stops it). */
    public void setMemoryStatsPeriod(Domain domain, int seconds) throws IOException, VmOperationException {
        RunningVm vm = require(domain);
        try {
            DomainDevices.Balloon balloon = vm.live.balloon();
            if (balloon == null) {
                throw new VmOperationException("Requested operation is not valid: No memory balloon device configured, can not set the collection period", true);
            }
            setStatsPeriod(vm, balloon, seconds);
        } catch (DomainXmlException e) {
            throw new VmOperationException(e.getMessage(), false);
        }
    }

    /**
     * virsh attach-device --live for a disk or an interface: the back end and the virtio function
     * are added over QMP, and the device (with its alias, tap and address) joins the live definition.
     */
    public void attachDevice(Domain domain, String deviceXml) throws IOException, VmOperationException {
        RunningVm vm = require(domain);
        synchronized (vm.hotplug) {
            List<String> tapsTaken = new java.util.ArrayList<>();
            try {
                DomainDefinition before = vm.live;
                DomainDefinition prepared = LiveDefinition.prepare(before.withDevice(deviceXml), resources, taps, false, tapsTaken);
                int serial = ++vm.hotplugSerial;
                List<HotplugRequests.Request> requests = null;
                String alias = null;
                List<DomainDevices.Disk> disks = prepared.disks();
                List<DomainDevices.Nic> nics = prepared.interfaces();
                if (disks.size() > before.disks().size()) {
                    DomainDevices.Disk disk = disks.getLast();
                    alias = disk.alias();
                    requests = HotplugRequests.disk(disk, resources, serial);
                } else if (nics.size() > before.interfaces().size()) {
                    DomainDevices.Nic nic = nics.getLast();
                    alias = nic.alias();
                    requests = HotplugRequests.nic(nic, resources, serial);
                }
                if (requests == null) {
                    throw new VmOperationException("internal error: the attached device was not found in the live definition", false);
                }
                for (HotplugRequests.Request request : requests) {
                    vm.qmp.execute(request.command(), request.arguments());
                }
                String added = prepared.deviceXml(alias);
                synchronized (vm) {
                    vm.live = vm.live.withDevice(added); // events may have changed the live definition meanwhile
                }
                placeDevices(vm);
            } catch (DomainXmlException e) {
                throw new VmOperationException("XML error: " + e.getMessage(), true);
            } catch (VmStartException e) {
                throw new VmOperationException(e.getMessage(), false);
            } finally {
                tapsTaken.forEach(taps::release);
            }
        }
    }

    /**
     * virsh detach-device --live: device_del, then up to {@code wait} for the guest to let go
     * (DEVICE_DELETED), as libvirt waits; a guest that takes longer keeps the device until it does,
     * and the live definition drops it then.
     */
    public boolean detachDevice(Domain domain, String deviceXml, java.time.Duration wait) throws IOException, VmOperationException {
        RunningVm vm = require(domain);
        String alias;
        try {
            alias = vm.live.withoutDevice(deviceXml).alias();
        } catch (DomainXmlException e) {
            throw new VmOperationException("operation failed: " + e.getMessage(), false);
        }
        if (alias == null) {
            throw new VmOperationException("operation failed: the device has no alias in the live definition", false);
        }
        vm.qmp.execute("device_del", QmpClient.arguments().put("id", alias));
        long deadline = System.nanoTime() + wait.toNanos();
        synchronized (vm) {
            while (vm.live.hasAlias(alias)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(vm, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return true;
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
