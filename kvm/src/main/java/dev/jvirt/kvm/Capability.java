package dev.jvirt.kvm;

/** KVM_CAP_* numbers from linux/kvm.h that jvirt checks before relying on them. */
public enum Capability {
    IRQCHIP(0),
    HLT(1),
    USER_MEMORY(3),
    SET_TSS_ADDR(4),
    EXT_CPUID(7),
    NR_VCPUS(9),
    NR_MEMSLOTS(10),
    PIT(11),
    MP_STATE(14),
    SYNC_MMU(16),
    IOEVENTFD(36),
    SET_IDENTITY_MAP_ADDR(37),
    ADJUST_CLOCK(39),
    IRQFD(32),
    PIT2(33),
    IRQ_ROUTING(25),
    IMMEDIATE_EXIT(136),
    MAX_VCPUS(66),
    SIGNAL_MSI(77);

    final int number;

    Capability(int number) {
        this.number = number;
    }

    /** Capabilities a jvirt VM cannot run without. */
    public static final Capability[] REQUIRED = {
        IRQCHIP, USER_MEMORY, SET_TSS_ADDR, EXT_CPUID, PIT2, SET_IDENTITY_MAP_ADDR, IMMEDIATE_EXIT, SYNC_MMU
    };
}
