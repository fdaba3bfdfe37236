package dev.jvirt.vmm.machine;

import dev.jvirt.devices.bus.MmioBus;
import dev.jvirt.devices.bus.PortIoBus;
import dev.jvirt.kvm.Kvm;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vcpu;
import dev.jvirt.kvm.Vm;
import dev.jvirt.memory.GuestMemory;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A built virtual machine and its lifecycle: start the vCPU threads, pause and resume them,
 * press the power button, and end with a {@link Termination}. Built by {@link MachineBuilder}.
 */
public final class Machine {

    private final Kvm kvm;
    private final Vm vm;
    private final GuestMemory memory;
    private final List<Vcpu> vcpus;
    private final PortIoBus ports;
    private final MmioBus mmio;
    private final Platform platform;
    private final VirtioDevices devices;
    private final VcpuGate gate;
    private final MachineReset machineReset;
    private final boolean noReboot;
    /** Guards {@link #resetPending}: a reset requested while one is under way joins it. */
    private final Object resetLock = new Object();
    private boolean resetPending;
    private final CompletableFuture<Termination> termination = new CompletableFuture<>();
    private final List<MachineListener> listeners = new CopyOnWriteArrayList<>();
    private volatile RunState state;

    Machine(Kvm kvm, Vm vm, GuestMemory memory, List<Vcpu> vcpus, PortIoBus ports, MmioBus mmio, Platform platform,
            VirtioDevices devices, MachineReset machineReset, boolean startPaused, boolean noReboot) {
        this.kvm = kvm;
        this.vm = vm;
        this.memory = memory;
        this.vcpus = vcpus;
        this.ports = ports;
        this.mmio = mmio;
        this.platform = platform;
        this.devices = devices;
        this.gate = new VcpuGate(vcpus.size(), startPaused);
        this.machineReset = machineReset;
        this.noReboot = noReboot;
        this.state = startPaused ? RunState.PRELAUNCH : RunState.RUNNING;
        platform.onPoweroff(() -> terminate(Termination.guestPoweroff()));
        platform.onReset(() -> reset(true));
        platform.onSlotEjected(slot -> {
            String id = devices.ejected(slot);
            if (id != null) {
                listeners.forEach(listener -> listener.deviceDeleted(id));
            }
        });
        for (PluggedDevice device : devices.plugged()) {
            if (device.device() instanceof dev.jvirt.virtio.balloon.VirtioBalloon balloon) {
                balloon.setActualListener(bytes -> listeners.forEach(listener -> listener.balloonChanged(bytes)));
            }
        }
    }

    public void addListener(MachineListener listener) {
        listeners.add(listener);
    }

    /** Starts one platform thread per vCPU (KVM wants a vCPU to stay on the thread that runs it). */
    public void start() {
        for (Vcpu vcpu : vcpus) {
            Thread thread = Thread.ofPlatform().name("vcpu-" + vcpu.id()).daemon(true)
                    .unstarted(new VcpuLoop(this, vcpu, gate, ports, mmio));
            thread.start();
        }
    }

    public RunState state() {
        return state;
    }

    public int cpuCount() {
        return vcpus.size();
    }

    public long ramSize() {
        return memory.ramSize();
    }

    public Platform platform() {
        return platform;
    }

    /** Stops every vCPU; returns once none is running guest code. */
    public synchronized void pause() throws InterruptedException {
        if (state != RunState.RUNNING) {
            return;
        }
        gate.pause();
        state = RunState.PAUSED;
        listeners.forEach(MachineListener::stopped);
    }

    public synchronized void resume() {
        if (state != RunState.PAUSED && state != RunState.PRELAUNCH) {
            return;
        }
        gate.resume();
        state = RunState.RUNNING;
        listeners.forEach(MachineListener::resumed);
    }

    /** The ACPI power button: a guest that listens shuts itself down. */
    public void powerButton() {
        listeners.forEach(MachineListener::poweringDown);
        platform.pressPowerButton();
    }

    /**
     * A system reset: from the guest (port 0xCF9, the i8042 reset line, KVM's reset system event)
     * or the host (QMP system_reset). As QEMU: the machine resets in place and boots again, and
     * RESET is reported; with {@code -no-reboot} it ends instead (status 0, SHUTDOWN with the
     * reset's reason). Safe from any thread, vCPU threads included: the vCPUs are held here and the
     * reset itself runs on its own thread once all of them are parked, so none runs old work.
     */
    public void reset(boolean byGuest) {
        if (noReboot) {
            terminate(byGuest ? Termination.guestReset() : Termination.hostReset());
            return;
        }
        synchronized (resetLock) {
            if (resetPending || termination.isDone()) {
                return;
            }
            resetPending = true;
            gate.hold();
        }
        String reason = byGuest ? "guest-reset" : "host-qmp-system-reset";
        Thread.ofPlatform().name("machine-reset").daemon(true).start(() -> performReset(byGuest, reason));
    }

    private void performReset(boolean byGuest, String reason) {
        try {
            if (!gate.awaitParked()) {
                return; // the machine ended meanwhile
            }
            synchronized (this) {
                if (termination.isDone()) {
                    return;
                }
                machineReset.run();
            }
            listeners.forEach(listener -> listener.reset(byGuest, reason));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            // A machine that could not be put back together must not run on half reset.
            terminate(Termination.failure("system reset failed: " + e.getMessage()));
        } finally {
            synchronized (resetLock) {
                resetPending = false;
            }
            gate.release();
        }
    }

    /** Ends the machine once; later calls are ignored. Safe from any thread, vCPU threads included. */
    public void terminate(Termination how) {
        synchronized (this) {
            if (termination.isDone()) {
                return;
            }
            state = how.exitStatus() == 0 ? RunState.SHUTDOWN : RunState.INTERNAL_ERROR;
        }
        gate.close();
        listeners.forEach(listener -> listener.shutdown(how));
        termination.complete(how);
    }

    /**
     * Stops the devices once the machine has ended: their threads finish, disks flush and close.
     * Call after {@link #awaitTermination()}, before the process exits.
     */
    /**
     * One byte typed on the host's stdin: to the virtconsole if its chardev is stdio, else to
     * the UART. Waits while the receiving device has no room, so nothing typed is lost.
     */
    public boolean sendConsoleInput(int b) {
        var console = devices.stdioConsole();
        if (console == null) {
            return platform.sendConsoleInput(b);
        }
        try {
            console.enqueueInputFully(new byte[] {(byte) b}, 0, 1);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** device_add: a new virtio function in the running machine (the guest sees it through ACPI hot-plug). */
    public PluggedDevice hotplug(dev.jvirt.vmm.cli.DeviceSpec spec) throws java.io.IOException {
        return devices.hotplug(spec);
    }

    /** device_del: the device goes when the guest ejects it; DEVICE_DELETED follows. */
    public void unplug(String id) throws java.io.IOException {
        devices.requestUnplug(id);
    }

    /** The virtio PCI functions plugged in, in slot-assignment order. */
    public List<PluggedDevice> devices() {
        return devices.plugged();
    }

    /** Waits for a reset under way (it holds this lock), so devices never close in the middle of one. */
    public synchronized void closeDevices() {
        devices.close();
    }

    public Termination awaitTermination() throws InterruptedException {
        try {
            return termination.get();
        } catch (java.util.concurrent.ExecutionException e) {
            return Termination.failure(e.getCause().toString());
        }
    }

    /** Registers of a stopped or failed vCPU, for error reports. */
    String describeVcpu(Vcpu vcpu) {
        try {
            return vcpu.getRegs() + "\n" + vcpu.getSregs();
        } catch (KvmException e) {
            return "(registers unavailable: " + e.getMessage() + ")";
        }
    }

    GuestMemory memory() {
        return memory;
    }

    Vm vm() {
        return vm;
    }

    Kvm kvm() {
        return kvm;
    }
}
