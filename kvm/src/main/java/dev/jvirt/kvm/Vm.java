package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** A KVM virtual machine file descriptor: memory slots, the in-kernel irqchip and PIT, vCPUs. */
public final class Vm implements AutoCloseable {

    private final Kvm kvm;
    private final int fd;
    /** KVM_IRQ_LINE is called from device threads; each thread reuses its own small buffer. */
    private final ThreadLocal<MemorySegment> irqLevelBuffer = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(8, 4));
    /** Capabilities already found present, so the interrupt plumbing asks KVM once per VM. */
    private final Set<Capability> present = ConcurrentHashMap.newKeySet();

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

    /** sizeof(struct kvm_irqchip): chip id, padding, and a 512-byte union of the PIC and IOAPIC states. */
    static final int IRQCHIP_STATE_SIZE = 520;
    /** sizeof(struct kvm_pit_state2). */
    static final int PIT_STATE_SIZE = 112;
    /** KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC: the chips of KVM_CREATE_IRQCHIP. */
    public static final int PIC_MASTER = 0, PIC_SLAVE = 1, IOAPIC = 2;

    /**
     * KVM_GET_IRQCHIP: the opaque state of one in-kernel interrupt controller ({@link #PIC_MASTER},
     * {@link #PIC_SLAVE} or {@link #IOAPIC}), to be put back with {@link #setIrqchipState}.
     */
    public byte[] irqchipState(int chip) throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(IRQCHIP_STATE_SIZE, 8);
            state.set(JAVA_INT, 0, chip);
            check("KVM_GET_IRQCHIP(" + chip + ")", Libc.ioctl(fd, Ioctls.KVM_GET_IRQCHIP, state));
            return state.toArray(JAVA_BYTE);
        }
    }

    /** KVM_SET_IRQCHIP with a state from {@link #irqchipState}; the chip id is inside it. */
    public void setIrqchipState(byte[] saved) throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(IRQCHIP_STATE_SIZE, 8);
            state.copyFrom(MemorySegment.ofArray(requireSize(saved, IRQCHIP_STATE_SIZE, "irqchip")));
            check("KVM_SET_IRQCHIP(" + state.get(JAVA_INT, 0) + ")", Libc.ioctl(fd, Ioctls.KVM_SET_IRQCHIP, state));
        }
    }

    /** KVM_GET_PIT2: the in-kernel PIT's opaque state (three channels, flags). */
    public byte[] pitState() throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(PIT_STATE_SIZE, 8);
            check("KVM_GET_PIT2", Libc.ioctl(fd, Ioctls.KVM_GET_PIT2, state));
            return state.toArray(JAVA_BYTE);
        }
    }

    /** KVM_SET_PIT2 with a state from {@link #pitState}; KVM reloads the counters and restarts its timer. */
    public void setPitState(byte[] saved) throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(PIT_STATE_SIZE, 8);
            state.copyFrom(MemorySegment.ofArray(requireSize(saved, PIT_STATE_SIZE, "PIT")));
            check("KVM_SET_PIT2", Libc.ioctl(fd, Ioctls.KVM_SET_PIT2, state));
        }
    }

    private static byte[] requireSize(byte[] saved, int size, String what) {
        if (saved.length != size) {
            throw new IllegalArgumentException("saved " + what + " state has " + saved.length + " bytes, not " + size);
        }
        return saved;
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

    // --- interrupt and notification plumbing: irqfd, ioeventfd, GSI routing, MSI -----------------

    private static final int IRQFD_FLAG_DEASSIGN = 1;
    private static final int IOEVENTFD_FLAG_DATAMATCH = 1;
    private static final int IOEVENTFD_FLAG_PIO = 1 << 1;
    private static final int IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

    /**
     * Fails unless KVM offers every one of {@code capabilities}; the message names the first one
     * missing. Results are remembered, so checking before each ioctl costs nothing after the first.
     */
    public void requireCapabilities(Capability... capabilities) throws KvmException {
        for (Capability capability : capabilities) {
            if (present.contains(capability)) {
                continue;
            }
            int result = Libc.ioctl(fd, Ioctls.KVM_CHECK_EXTENSION, capability.number);
            if (result <= 0) {
                throw new KvmException("KVM_CHECK_EXTENSION (KVM_CAP_" + capability + " is missing, jvirt needs it)",
                        result < 0 ? -result : Libc.ENOSYS);
            }
            present.add(capability);
        }
    }

    /** The number of GSI routes KVM accepts (KVM_CAP_IRQ_ROUTING): GSIs run from 0 to one less. */
    public int maxGsiRoutes() throws KvmException {
        requireCapabilities(Capability.IRQ_ROUTING);
        return checkExtension(Capability.IRQ_ROUTING);
    }

    /**
     * KVM_SET_GSI_ROUTING: replaces the whole routing table with {@code routes}, including the
     * legacy routes KVM_CREATE_IRQCHIP installed (see {@link IrqRouting#pcDefaults()}).
     *
     * @throws IllegalArgumentException for a table KVM would refuse with a bare EINVAL: two routes
     *         of one GSI to the same irqchip, an MSI route sharing its GSI, a GSI or a table too large
     */
    public void setGsiRouting(List<GsiRoute> routes) throws KvmException {
        requireCapabilities(Capability.IRQ_ROUTING);
        IrqRouting.validate(routes, checkExtension(Capability.IRQ_ROUTING));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment table = arena.allocate(IrqRouting.size(routes.size()), 8);
            IrqRouting.encode(routes, table);
            check("KVM_SET_GSI_ROUTING(" + routes.size() + " routes)", Libc.ioctl(fd, Ioctls.KVM_SET_GSI_ROUTING, table));
        }
    }

    /** KVM_IRQFD: from now on, signalling {@code eventFd} asserts {@code gsi} (edge: assert and deassert). */
    public void registerIrqfd(EventFd eventFd, int gsi) throws KvmException {
        requireCapabilities(Capability.IRQFD);
        irqfd("KVM_IRQFD(gsi " + gsi + ")", eventFd, gsi, 0);
    }

    public void unregisterIrqfd(EventFd eventFd, int gsi) throws KvmException {
        requireCapabilities(Capability.IRQFD);
        irqfd("KVM_IRQFD(deassign gsi " + gsi + ")", eventFd, gsi, IRQFD_FLAG_DEASSIGN);
    }

    private void irqfd(String name, EventFd eventFd, int gsi, int flags) throws KvmException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment irqfd = arena.allocate(32, 8); // struct kvm_irqfd: fd, gsi, flags, resamplefd, pad
            irqfd.set(JAVA_INT, 0, eventFd.fd());
            irqfd.set(JAVA_INT, 4, gsi);
            irqfd.set(JAVA_INT, 8, flags);
            check(name, Libc.ioctl(fd, Ioctls.KVM_IRQFD, irqfd));
        }
    }

    /**
     * KVM_IOEVENTFD: a guest write of exactly {@code length} bytes (1, 2, 4 or 8) at
     * {@code address} (MMIO, or an I/O port when {@code mmio} is false) signals {@code eventFd}
     * inside KVM instead of exiting to us. Writes of other lengths still exit.
     */
    public void registerIoeventfd(long address, int length, EventFd eventFd, boolean mmio) throws KvmException {
        ioeventfd(address, length, eventFd, mmio, false, 0, false);
    }

    /** As {@link #registerIoeventfd(long, int, EventFd, boolean)}, but only writes of the value {@code datamatch}. */
    public void registerIoeventfd(long address, int length, EventFd eventFd, boolean mmio, long datamatch) throws KvmException {
        ioeventfd(address, length, eventFd, mmio, true, datamatch, false);
    }

    /** Undoes {@link #registerIoeventfd(long, int, EventFd, boolean)}; the arguments must be the same. */
    public void unregisterIoeventfd(long address, int length, EventFd eventFd, boolean mmio) throws KvmException {
        ioeventfd(address, length, eventFd, mmio, false, 0, true);
    }

    /** Undoes {@link #registerIoeventfd(long, int, EventFd, boolean, long)}; the arguments must be the same. */
    public void unregisterIoeventfd(long address, int length, EventFd eventFd, boolean mmio, long datamatch) throws KvmException {
        ioeventfd(address, length, eventFd, mmio, true, datamatch, true);
    }

    private void ioeventfd(long address, int length, EventFd eventFd, boolean mmio, boolean match, long datamatch, boolean deassign)
            throws KvmException {
        if (length != 1 && length != 2 && length != 4 && length != 8) {
            throw new IllegalArgumentException("ioeventfd length " + length + " is not 1, 2, 4 or 8");
        }
        if (!mmio && (address < 0 || address > 0xFFFF)) {
            throw new IllegalArgumentException("I/O port 0x" + Long.toHexString(address) + " is beyond 0xFFFF");
        }
        requireCapabilities(Capability.IOEVENTFD);
        int flags = (match ? IOEVENTFD_FLAG_DATAMATCH : 0) | (mmio ? 0 : IOEVENTFD_FLAG_PIO) | (deassign ? IOEVENTFD_FLAG_DEASSIGN : 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ioeventfd = arena.allocate(64, 8); // struct kvm_ioeventfd
            ioeventfd.set(JAVA_LONG, 0, datamatch);
            ioeventfd.set(JAVA_LONG, 8, address);
            ioeventfd.set(JAVA_INT, 16, length);
            ioeventfd.set(JAVA_INT, 20, eventFd.fd());
            ioeventfd.set(JAVA_INT, 24, flags);
            String name = "KVM_IOEVENTFD(" + (deassign ? "deassign " : "") + (mmio ? "mmio 0x" : "port 0x")
                    + Long.toHexString(address) + "/" + length + ")";
            check(name, Libc.ioctl(fd, Ioctls.KVM_IOEVENTFD, ioeventfd));
        }
    }

    /**
     * KVM_SIGNAL_MSI: delivers one MSI message now, without a route. Returns false if the guest
     * blocked it (for instance a masked or disabled local APIC), true if it was delivered.
     */
    public boolean signalMsi(long address, int data) throws KvmException {
        requireCapabilities(Capability.SIGNAL_MSI);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment msi = arena.allocate(32, 8); // struct kvm_msi: address_lo, address_hi, data, flags, devid, pad
            msi.set(JAVA_INT, 0, (int) address);
            msi.set(JAVA_INT, 4, (int) (address >>> 32));
            msi.set(JAVA_INT, 8, data);
            int result = Libc.ioctl(fd, Ioctls.KVM_SIGNAL_MSI, msi);
            check("KVM_SIGNAL_MSI(0x" + Long.toHexString(address) + ", 0x" + Integer.toHexString(data) + ")", result);
            return result > 0;
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
