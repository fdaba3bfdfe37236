package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** A KVM virtual machine file descriptor: memory slots, the in-kernel irqchip and PIT, vCPUs. */
public final class Vm implements AutoCloseable {

    private final Kvm kvm;
    private final int fd;
    /** KVM_IRQ_LINE is called from device threads; each thread reuses its own small buffer. */
    private final ThreadLocal<MemorySegment> irqLevelBuffer = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(8, 4));

    Vm(Kvm kvm, int fd) {
        this.kvm = kvm;
        this.fd = fd;
    }

    public int checkExtension(Capability capability) throws KvmException {
        int result = Libc.ioctl(fd, Ioctls.KVM_CHECK_EXTENSION, capability.number);
        if (result < 0) {
            throw new KvmException("KVM_CHECK_EXTENSION(" + capability + ")", -result);
        }
        return result;
    }


    /** Maps {@code hostMemory} into the guest at {@code guestAddress} as memory slot {@code slot}. */
    public void setUserMemoryRegion(int slot, long guestAddress, MemorySegment hostMemory, boolean readOnly) throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment region = arena.allocate(32, 8);
            region.set(JAVA_INT, 0, slot);
            region.set(JAVA_INT, 4, readOnly ? 2 : 0); // KVM_MEM_READONLY
            region.set(JAVA_LONG, 8, guestAddress);
            region.set(JAVA_LONG, 16, hostMemory.byteSize());
            region.set(JAVA_LONG, 24, hostMemory.address());
            check("KVM_SET_USER_MEMORY_REGION(slot " + slot + ")", Libc.ioctl(fd, Ioctls.KVM_SET_USER_MEMORY_REGION, region));
        }
    }

    /** Where KVM keeps the three pages of the real-mode TSS it needs on Intel; must not be RAM we use. */
    public void setTssAddress(long address) throws KvmException {
        check("KVM_SET_TSS_ADDR", Libc.ioctl(fd, Ioctls.KVM_SET_TSS_ADDR, address));
    }

    public void setIdentityMapAddress(long address) throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(8, 8);
            value.set(JAVA_LONG, 0, address);
            check("KVM_SET_IDENTITY_MAP_ADDR", Libc.ioctl(fd, Ioctls.KVM_SET_IDENTITY_MAP_ADDR, value));
        }
    }

    /** In-kernel PIC pair, IOAPIC and per-vCPU LAPICs. Must precede vCPU creation. */
    public void createIrqchip() throws KvmException {
        check("KVM_CREATE_IRQCHIP", Libc.ioctl(fd, Ioctls.KVM_CREATE_IRQCHIP, 0L));
    }

    /** In-kernel i8254 PIT (and the port 0x61 speaker gate). */
    public void createPit2() throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment config = arena.allocate(64, 4); // struct kvm_pit_config, flags 0
            check("KVM_CREATE_PIT2", Libc.ioctl(fd, Ioctls.KVM_CREATE_PIT2, config));
        }
    }

    /** Drives interrupt line {@code gsi} of the in-kernel irqchip. */
    public void setIrqLine(int gsi, boolean level) throws KvmException {
        MemorySegment irqLevel = irqLevelBuffer.get();
        irqLevel.set(JAVA_INT, 0, gsi);
        irqLevel.set(JAVA_INT, 4, level ? 1 : 0);
        check("KVM_IRQ_LINE(" + gsi + ")", Libc.ioctl(fd, Ioctls.KVM_IRQ_LINE, irqLevel));
    }

    public Vcpu createVcpu(int id) throws NativeException {
        int vcpuFd = Libc.ioctl(fd, Ioctls.KVM_CREATE_VCPU, id);
        check("KVM_CREATE_VCPU(" + id + ")", vcpuFd);
        try {
            MemorySegment run = Libc.mmap(kvm.vcpuMmapSize(), Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, vcpuFd, 0);
            return new Vcpu(id, vcpuFd, run);
        } catch (NativeException e) {
            Libc.close(vcpuFd);
            throw e;
        }
    }

    private static void check(String name, int result) throws KvmException {
        if (result < 0) {
            throw new KvmException(name, -result);
        }
    }

    @Override
    public void close() {
        Libc.close(fd);
    }
}
