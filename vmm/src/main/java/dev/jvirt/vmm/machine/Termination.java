package dev.jvirt.vmm.machine;

/**
 * Why the machine stopped for good, and the exit status the process should end with:
 * 0 for a guest power-off or a requested quit (as QEMU), non-zero for a guest or VMM failure.
 * {@code reason} uses QMP's SHUTDOWN event reasons where one applies.
 */
public record Termination(int exitStatus, String reason, boolean byGuest, String detail) {

    public static Termination guestPoweroff() {
        return new Termination(0, "guest-shutdown", true, "guest powered off");
    }

    /** A guest reset under {@code -no-reboot}; without it the machine resets in place instead. */
    public static Termination guestReset() {
        return new Termination(0, "guest-reset", true, "guest requested a reset (-no-reboot)");
    }

    /** QMP system_reset under {@code -no-reboot}. */
    public static Termination hostReset() {
        return new Termination(0, "host-qmp-system-reset", false, "system_reset requested (-no-reboot)");
    }

    public static Termination quit() {
        return new Termination(0, "host-qmp-quit", false, "quit requested");
    }

    public static Termination signal(String name) {
        return new Termination(0, "host-signal", false, "terminated by " + name);
    }

    public static Termination failure(String detail) {
        return new Termination(1, "guest-panic", true, detail);
    }

    public Termination withReason(String newReason) {
        return new Termination(exitStatus, newReason, false, detail);
    }
}
