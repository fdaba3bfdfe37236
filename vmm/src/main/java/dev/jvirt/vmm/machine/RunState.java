package dev.jvirt.vmm.machine;

/** QMP's run states that jvirt reaches (a subset of QEMU's RunState). */
public enum RunState {
    PRELAUNCH("prelaunch"),
    RUNNING("running"),
    PAUSED("paused"),
    SHUTDOWN("shutdown"),
    INTERNAL_ERROR("internal-error");

    private final String qmpName;

    RunState(String qmpName) {
        this.qmpName = qmpName;
    }

    public String qmpName() {
        return qmpName;
    }
}
