package dev.jvirt.vmm.machine;

/**
 * With JVIRT_TRACE_BOOT set, reports how long the VMM took from JVM start to each start-up
 * phase and to the first KVM_RUN: where the time before the guest's first instruction goes.
 */
public final class BootTrace {

    private static final boolean ENABLED = System.getenv("JVIRT_TRACE_BOOT") != null;

    private BootTrace() {
    }

    /** Notes that start-up reached {@code phase}. */
    public static void phase(String phase) {
        if (ENABLED) {
            System.err.println("jvirt-vmm: " + sinceStart() + " ms: " + phase);
        }
    }

    static void firstRun() {
        System.err.println("jvirt-vmm: first KVM_RUN after " + sinceStart() + " ms");
    }

    /**
     * Milliseconds since the JVM started. (The process start time from /proc counts from a boot
     * time given in whole seconds, so it can be off by up to a second.) The launcher script
     * before the JVM takes a few milliseconds more.
     */
    private static long sinceStart() {
        return java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime();
    }
}
