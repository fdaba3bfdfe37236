package dev.jvirt.vmm.machine;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.bus.MmioBus;
import dev.jvirt.devices.bus.PortIoBus;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vm;
import dev.jvirt.memory.GuestMemory;

import java.io.OutputStream;

/**
 * The PC platform around the vCPUs: which device sits at which port and IRQ, and the ACPI tables
 * that tell the guest so. The one place that knows the machine's wiring.
 */
public final class Platform {

    private volatile Runnable poweroff = () -> { };
    private volatile Runnable reset = () -> { };
    private long rsdpAddress;

    private Platform() {
    }

    static Platform install(Vm vm, GuestMemory memory, PortIoBus ports, MmioBus mmio, int cpus, OutputStream console) {
        Platform platform = new Platform();
        return platform;
    }

    /** An interrupt line of the in-kernel irqchip, as devices see it. */
    static InterruptLine gsi(Vm vm, int gsi) {
        return asserted -> {
            try {
                vm.setIrqLine(gsi, asserted);
            } catch (KvmException e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        };
    }

    long rsdpAddress() {
        return rsdpAddress;
    }

    void onPoweroff(Runnable action) {
        poweroff = action;
    }

    void onReset(Runnable action) {
        reset = action;
    }

    void pressPowerButton() {
    }

    /** One byte typed on the console; blocks while the UART's receive FIFO is full. */
    public boolean sendConsoleInput(int b) {
        return true;
    }
}
