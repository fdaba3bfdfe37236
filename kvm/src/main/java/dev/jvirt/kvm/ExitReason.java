package dev.jvirt.kvm;

/** KVM_EXIT_* values of kvm_run.exit_reason that jvirt distinguishes. */
public final class ExitReason {

    public static final int UNKNOWN = 0;
    public static final int EXCEPTION = 1;
    public static final int IO = 2;
    public static final int HYPERCALL = 3;
    public static final int DEBUG = 4;
    public static final int HLT = 5;
    public static final int MMIO = 6;
    public static final int IRQ_WINDOW_OPEN = 7;
    public static final int SHUTDOWN = 8;
    public static final int FAIL_ENTRY = 9;
    public static final int INTR = 10;
    public static final int INTERNAL_ERROR = 17;
    public static final int SYSTEM_EVENT = 24;

    private static final String[] NAMES = {
        "UNKNOWN", "EXCEPTION", "IO", "HYPERCALL", "DEBUG", "HLT", "MMIO", "IRQ_WINDOW_OPEN", "SHUTDOWN",
        "FAIL_ENTRY", "INTR", "SET_TPR", "TPR_ACCESS", "S390_SIEIC", "S390_RESET", "DCR", "NMI", "INTERNAL_ERROR",
        "OSI", "PAPR_HCALL", "S390_UCONTROL", "WATCHDOG", "S390_TSCH", "EPR", "SYSTEM_EVENT",
    };

    public static String name(int reason) {
        return reason >= 0 && reason < NAMES.length ? "KVM_EXIT_" + NAMES[reason] : "KVM_EXIT_" + reason;
    }

    private ExitReason() {
    }
}
