package dev.jvirt.vmm.machine;

import java.time.Duration;
import java.time.Instant;

/** With JVIRT_TRACE_BOOT set, reports how long the VMM took from process start to the first KVM_RUN. */
final class BootTrace {

    private BootTrace() {
    }

    static void firstRun() {
        Instant started = ProcessHandle.current().info().startInstant().orElse(Instant.now());
        System.err.println("jvirt-vmm: first KVM_RUN after " + Duration.between(started, Instant.now()).toMillis() + " ms");
    }
}
