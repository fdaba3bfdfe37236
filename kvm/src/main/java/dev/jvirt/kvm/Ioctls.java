package dev.jvirt.kvm;

/**
 * KVM ioctl request numbers, computed the way linux/kvm.h's _IO/_IOR/_IOW/_IOWR macros do.
 * The struct sizes are those of the x86-64 ABI.
 */
final class Ioctls {

    private static final int KVMIO = 0xAE;
    private static final long WRITE = 1L;
    private static final long READ = 2L;

    private static long io(int nr) {
        return (KVMIO << 8) | nr;
    }

    private static long ioc(long direction, int nr, int size) {
        return (direction << 30) | ((long) size << 16) | (KVMIO << 8) | nr;
    }

    static final long KVM_GET_API_VERSION = io(0x00);
    static final long KVM_CREATE_VM = io(0x01);
    static final long KVM_CHECK_EXTENSION = io(0x03);
    static final long KVM_GET_VCPU_MMAP_SIZE = io(0x04);
    static final long KVM_GET_SUPPORTED_CPUID = ioc(READ | WRITE, 0x05, 8);

    static final long KVM_CREATE_VCPU = io(0x41);
    static final long KVM_SET_USER_MEMORY_REGION = ioc(WRITE, 0x46, 32);
    static final long KVM_SET_TSS_ADDR = io(0x47);
    static final long KVM_SET_IDENTITY_MAP_ADDR = ioc(WRITE, 0x48, 8);
    static final long KVM_CREATE_IRQCHIP = io(0x60);
    static final long KVM_IRQ_LINE = ioc(WRITE, 0x61, 8);
    static final long KVM_CREATE_PIT2 = ioc(WRITE, 0x77, 64);
    static final long KVM_SET_GSI_ROUTING = ioc(WRITE, 0x6a, IrqRouting.HEADER_SIZE);
    static final long KVM_IRQFD = ioc(WRITE, 0x76, 32);
    static final long KVM_IOEVENTFD = ioc(WRITE, 0x79, 64);
    static final long KVM_SIGNAL_MSI = ioc(WRITE, 0xa5, 32);
    // KVM_SET_IRQCHIP really is _IOR in linux/kvm.h (a historical mistake the ABI keeps).
    static final long KVM_GET_IRQCHIP = ioc(READ | WRITE, 0x62, Vm.IRQCHIP_STATE_SIZE);
    static final long KVM_SET_IRQCHIP = ioc(READ, 0x63, Vm.IRQCHIP_STATE_SIZE);
    static final long KVM_GET_PIT2 = ioc(READ, 0x9f, Vm.PIT_STATE_SIZE);
    static final long KVM_SET_PIT2 = ioc(WRITE, 0xa0, Vm.PIT_STATE_SIZE);

    static final long KVM_RUN = io(0x80);
    static final long KVM_GET_REGS = ioc(READ, 0x81, Regs.SIZE);
    static final long KVM_SET_REGS = ioc(WRITE, 0x82, Regs.SIZE);
    static final long KVM_GET_SREGS = ioc(READ, 0x83, Sregs.SIZE);
    static final long KVM_SET_SREGS = ioc(WRITE, 0x84, Sregs.SIZE);
    static final long KVM_SET_MSRS = ioc(WRITE, 0x89, 8);
    static final long KVM_GET_FPU = ioc(READ, 0x8c, 416);
    static final long KVM_SET_FPU = ioc(WRITE, 0x8d, 416);
    static final long KVM_GET_LAPIC = ioc(READ, 0x8e, 1024);
    static final long KVM_SET_LAPIC = ioc(WRITE, 0x8f, 1024);
    static final long KVM_SET_CPUID2 = ioc(WRITE, 0x90, 8);
    static final long KVM_SET_MP_STATE = ioc(WRITE, 0x99, 4);
    static final long KVM_GET_VCPU_EVENTS = ioc(READ, 0x9f, Vcpu.EVENTS_SIZE);
    static final long KVM_SET_VCPU_EVENTS = ioc(WRITE, 0xa0, Vcpu.EVENTS_SIZE);

    private Ioctls() {
    }
}
