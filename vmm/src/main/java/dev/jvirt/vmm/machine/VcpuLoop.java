package dev.jvirt.vmm.machine;

import dev.jvirt.devices.bus.MmioBus;
import dev.jvirt.devices.bus.PortIoBus;
import dev.jvirt.kvm.ExitReason;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vcpu;

/**
 * One vCPU's thread body: enter the guest, dispatch the exit, repeat. Port and MMIO exits go to
 * the buses; everything that ends the machine is reported to {@link Machine#terminate}.
 * Allocation-free on the I/O path.
 */
final class VcpuLoop implements Runnable {

    private static final int SYSTEM_EVENT_SHUTDOWN = 1;
    private static final int SYSTEM_EVENT_RESET = 2;
    private static final int SYSTEM_EVENT_CRASH = 3;

    private final Machine machine;
    private final Vcpu vcpu;
    private final VcpuGate gate;
    private final PortIoBus ports;
    private final MmioBus mmio;
    /** Exit counts for JVIRT_TRACE_BOOT; null (and no cost) otherwise. */
    private final ExitProfile profile;

    VcpuLoop(Machine machine, Vcpu vcpu, VcpuGate gate, PortIoBus ports, MmioBus mmio) {
        this.machine = machine;
        this.vcpu = vcpu;
        this.gate = gate;
        this.ports = ports;
        this.mmio = mmio;
        this.profile = ExitProfile.forVcpu(vcpu.id());
    }

    @Override
    public void run() {
        gate.join(vcpu);
        if (vcpu.id() == 0 && System.getenv("JVIRT_TRACE_BOOT") != null) {
            BootTrace.firstRun();
        }
        try {
            while (true) {
                int reason = vcpu.run();
                if (profile != null) {
                    count(reason);
                }
                switch (reason) {
                    case ExitReason.IO -> handlePortIo();
                    case ExitReason.MMIO -> handleMmio();
                    case ExitReason.INTR -> {
                        if (!gate.awaitRunnable(vcpu)) {
                            return;
                        }
                    }
                    case ExitReason.HLT -> {
                        // Only without an in-kernel LAPIC; ours has one, so a HLT exit means nothing to do.
                    }
                    case ExitReason.SYSTEM_EVENT -> {
                        if (!handleSystemEvent(vcpu.systemEventType())) {
                            return;
                        }
                    }
                    case ExitReason.SHUTDOWN -> {
                        // QEMU resets on a triple fault; we keep it fatal so the registers can be read.
                        machine.terminate(Termination.failure(
                                "vCPU " + vcpu.id() + ": triple fault (KVM_EXIT_SHUTDOWN)\n" + machine.describeVcpu(vcpu)));
                        return;
                    }
                    default -> {
                        machine.terminate(Termination.failure("vCPU " + vcpu.id() + ": unhandled exit " + ExitReason.name(reason)
                                + " (detail 0x" + Long.toHexString(vcpu.exitDetail()) + ")\n" + machine.describeVcpu(vcpu)));
                        return;
                    }
                }
            }
        } catch (KvmException e) {
            machine.terminate(Termination.failure("vCPU " + vcpu.id() + ": " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            // A device bug must not leave a dead vCPU and a live process; report it and stop the VM.
            machine.terminate(Termination.failure("vCPU " + vcpu.id() + ": internal error: " + e));
        }
    }

    private void count(int reason) {
        switch (reason) {
            case ExitReason.IO -> profile.portIo(vcpu.ioPort());
            case ExitReason.MMIO -> profile.mmio(vcpu.mmioAddress());
            default -> profile.otherExit();
        }
    }

    private void handlePortIo() {
        int port = vcpu.ioPort();
        int size = vcpu.ioSize();
        int count = vcpu.ioCount();
        if (vcpu.ioDirection() == Vcpu.IO_OUT) {
            for (int i = 0; i < count; i++) {
                ports.write(port, size, vcpu.ioData(i));
            }
        } else {
            for (int i = 0; i < count; i++) {
                vcpu.setIoData(i, ports.read(port, size));
            }
        }
    }

    private void handleMmio() {
        long address = vcpu.mmioAddress();
        int length = vcpu.mmioLength();
        if (length < 1 || length > 8) {
            return; // KVM never sends these; ignore rather than trust
        }
        if (vcpu.mmioIsWrite()) {
            mmio.write(address, length, vcpu.mmioData());
        } else {
            vcpu.setMmioData(mmio.read(address, length));
        }
    }

    /** Returns whether this thread goes on: after a reset request it does, and parks until the reset is done. */
    private boolean handleSystemEvent(int type) {
        switch (type) {
            case SYSTEM_EVENT_SHUTDOWN -> machine.terminate(Termination.guestPoweroff());
            case SYSTEM_EVENT_RESET -> {
                machine.reset(true);
                return true;
            }
            case SYSTEM_EVENT_CRASH -> machine.terminate(Termination.failure("vCPU " + vcpu.id() + ": guest crashed"));
            default -> machine.terminate(Termination.failure("vCPU " + vcpu.id() + ": unknown system event " + type));
        }
        return false;
    }
}
