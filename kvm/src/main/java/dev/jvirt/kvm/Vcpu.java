package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * One virtual CPU: its file descriptor and its mmap'd {@code struct kvm_run}. {@link #run()} and the
 * exit accessors are meant for the vCPU's own thread; {@link #requestImmediateExit} is the one call
 * other threads make.
 */
public final class Vcpu implements AutoCloseable {

    // struct kvm_run offsets (x86-64).
    private static final long IMMEDIATE_EXIT = 1;
    private static final long EXIT_REASON = 8;
    private static final long EXIT_DATA = 32;

    /** sizeof(struct kvm_vcpu_events). */
    static final int EVENTS_SIZE = 64;
    private static final int LAPIC_STATE_SIZE = 1024;

    /** KVM_MP_STATE_RUNNABLE: runs at the next KVM_RUN (the boot processor after a reset). */
    public static final int MP_STATE_RUNNABLE = 0;
    /** KVM_MP_STATE_UNINITIALIZED: an AP that waits for INIT, then SIPI (how KVM creates APs). */
    public static final int MP_STATE_UNINITIALIZED = 1;

    public static final int IO_IN = 0;
    public static final int IO_OUT = 1;

    private final int id;
    private final int fd;
    private final MemorySegment run;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment regsBuffer = arena.allocate(Regs.SIZE, 8);
    private final MemorySegment sregsBuffer = arena.allocate(Sregs.SIZE, 8);

    Vcpu(int id, int fd, MemorySegment run) {
        this.id = id;
        this.fd = fd;
        this.run = run;
    }

    public int id() {
        return id;
    }

    /**
     * Enters the guest until the next exit. Returns the exit reason, or {@link ExitReason#INTR}
     * when a signal or {@link #requestImmediateExit} interrupted the run.
     */
    public int run() throws KvmException {
        int result = Libc.ioctl(fd, Ioctls.KVM_RUN, 0L);
        if (result < 0) {
            if (result == -Libc.EINTR || result == -Libc.EAGAIN) {
                return ExitReason.INTR;
            }
            throw new KvmException("KVM_RUN(vcpu " + id + ")", -result);
        }
        return run.get(JAVA_INT, EXIT_REASON);
    }

    /** While set, KVM_RUN returns EINTR at once instead of entering the guest. */
    public void requestImmediateExit(boolean exit) {
        run.set(JAVA_BYTE, IMMEDIATE_EXIT, (byte) (exit ? 1 : 0));
    }

    // --- KVM_EXIT_IO -------------------------------------------------------------------------------

    public int ioDirection() {
        return run.get(JAVA_BYTE, EXIT_DATA);
    }

    public int ioSize() {
        return run.get(JAVA_BYTE, EXIT_DATA + 1);
    }

    public int ioPort() {
        return Short.toUnsignedInt(run.get(JAVA_SHORT, EXIT_DATA + 2));
    }

    public int ioCount() {
        return run.get(JAVA_INT, EXIT_DATA + 4);
    }

    /** The data of the {@code index}-th transfer of a (rep) I/O exit, {@code ioSize()} bytes wide. */
    public int ioData(int index) {
        long offset = run.get(JAVA_LONG, EXIT_DATA + 8) + (long) index * ioSize();
        return switch (ioSize()) {
            case 1 -> Byte.toUnsignedInt(run.get(JAVA_BYTE, offset));
            case 2 -> Short.toUnsignedInt(run.get(JAVA_SHORT, offset));
            default -> run.get(JAVA_INT, offset);
        };
    }

    public void setIoData(int index, int value) {
        long offset = run.get(JAVA_LONG, EXIT_DATA + 8) + (long) index * ioSize();
        switch (ioSize()) {
            case 1 -> run.set(JAVA_BYTE, offset, (byte) value);
            case 2 -> run.set(JAVA_SHORT, offset, (short) value);
            default -> run.set(JAVA_INT, offset, value);
        }
    }

    // --- KVM_EXIT_MMIO -----------------------------------------------------------------------------

    public long mmioAddress() {
        return run.get(JAVA_LONG, EXIT_DATA);
    }

    public int mmioLength() {
        return run.get(JAVA_INT, EXIT_DATA + 16);
    }

    public boolean mmioIsWrite() {
        return run.get(JAVA_BYTE, EXIT_DATA + 20) != 0;
    }

    public long mmioData() {
        long value = 0;
        int length = Math.min(8, mmioLength());
        for (int i = length - 1; i >= 0; i--) {
            value = (value << 8) | Byte.toUnsignedLong(run.get(JAVA_BYTE, EXIT_DATA + 8 + i));
        }
        return value;
    }

    public void setMmioData(long value) {
        int length = Math.min(8, mmioLength());
        for (int i = 0; i < length; i++) {
            run.set(JAVA_BYTE, EXIT_DATA + 8 + i, (byte) (value >>> (8 * i)));
        }
    }

    // --- other exits -------------------------------------------------------------------------------

    /** KVM_EXIT_SYSTEM_EVENT type: 1 shutdown, 2 reset, 3 crash. */
    public int systemEventType() {
        return run.get(JAVA_INT, EXIT_DATA);
    }

    /** KVM_EXIT_FAIL_ENTRY hardware reason, or KVM_EXIT_INTERNAL_ERROR suberror. */
    public long exitDetail() {
        return run.get(JAVA_LONG, EXIT_DATA);
    }

    // --- state -------------------------------------------------------------------------------------

    public Regs getRegs() throws KvmException {
        check("KVM_GET_REGS", Libc.ioctl(fd, Ioctls.KVM_GET_REGS, regsBuffer));
        Regs regs = new Regs();
        regs.readFrom(regsBuffer);
        return regs;
    }

    public void setRegs(Regs regs) throws KvmException {
        regs.writeTo(regsBuffer);
        check("KVM_SET_REGS", Libc.ioctl(fd, Ioctls.KVM_SET_REGS, regsBuffer));
    }

    public Sregs getSregs() throws KvmException {
        check("KVM_GET_SREGS", Libc.ioctl(fd, Ioctls.KVM_GET_SREGS, sregsBuffer));
        Sregs sregs = new Sregs();
        sregs.readFrom(sregsBuffer);
        return sregs;
    }

    public void setSregs(Sregs sregs) throws KvmException {
        sregs.writeTo(sregsBuffer);
        check("KVM_SET_SREGS", Libc.ioctl(fd, Ioctls.KVM_SET_SREGS, sregsBuffer));
    }

    public void setCpuid(List<CpuidEntry> entries) throws KvmException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment buffer = call.allocate(CpuidCodec.size(entries.size()), 8);
            CpuidCodec.encode(entries, buffer);
            check("KVM_SET_CPUID2", Libc.ioctl(fd, Ioctls.KVM_SET_CPUID2, buffer));
        }
    }

    /** KVM_SET_MSRS; fails unless every MSR was accepted. */
    public void setMsrs(Map<Integer, Long> msrs) throws KvmException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment buffer = call.allocate(8L + 16L * msrs.size(), 8);
            buffer.set(JAVA_INT, 0, msrs.size());
            long offset = 8;
            for (Map.Entry<Integer, Long> msr : msrs.entrySet()) {
                buffer.set(JAVA_INT, offset, msr.getKey());
                buffer.set(JAVA_LONG, offset + 8, msr.getValue());
                offset += 16;
            }
            int accepted = Libc.ioctl(fd, Ioctls.KVM_SET_MSRS, buffer);
            check("KVM_SET_MSRS", accepted);
            if (accepted != msrs.size()) {
                int rejected = buffer.get(JAVA_INT, 8L + 16L * accepted);
                throw new KvmException("KVM_SET_MSRS (MSR 0x" + Integer.toHexString(rejected) + " rejected)", 22);
            }
        }
    }

    /** Sets the x87 control word and MXCSR to their power-on values, everything else zero. */
    public void setFpuDefaults(int fcw, int mxcsr) throws KvmException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment fpu = call.allocate(416, 8);
            fpu.set(JAVA_SHORT, 128, (short) fcw);
            fpu.set(JAVA_INT, 408, mxcsr);
            check("KVM_SET_FPU", Libc.ioctl(fd, Ioctls.KVM_SET_FPU, fpu));
        }
    }

    /** Reads the LAPIC register page, lets {@code editor} change it, and writes it back. */
    public void editLapic(java.util.function.Consumer<MemorySegment> editor) throws KvmException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment lapic = call.allocate(1024, 8);
            check("KVM_GET_LAPIC", Libc.ioctl(fd, Ioctls.KVM_GET_LAPIC, lapic));
            editor.accept(lapic);
            check("KVM_SET_LAPIC", Libc.ioctl(fd, Ioctls.KVM_SET_LAPIC, lapic));
        }
    }

    /** KVM_GET_LAPIC: the whole local APIC register page, for {@link #setLapic}. */
    public byte[] getLapic() throws KvmException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment lapic = call.allocate(LAPIC_STATE_SIZE, 8);
            check("KVM_GET_LAPIC", Libc.ioctl(fd, Ioctls.KVM_GET_LAPIC, lapic));
            return lapic.toArray(JAVA_BYTE);
        }
    }

    public void setLapic(byte[] saved) throws KvmException {
        setBlob("KVM_SET_LAPIC", Ioctls.KVM_SET_LAPIC, saved, LAPIC_STATE_SIZE);
    }

    /** KVM_GET_VCPU_EVENTS: pending and injected exceptions, interrupts, NMIs and SMIs, opaque. */
    public byte[] getEvents() throws KvmException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment events = call.allocate(EVENTS_SIZE, 8);
            check("KVM_GET_VCPU_EVENTS", Libc.ioctl(fd, Ioctls.KVM_GET_VCPU_EVENTS, events));
            return events.toArray(JAVA_BYTE);
        }
    }

    public void setEvents(byte[] saved) throws KvmException {
        setBlob("KVM_SET_VCPU_EVENTS", Ioctls.KVM_SET_VCPU_EVENTS, saved, EVENTS_SIZE);
    }

    /** KVM_SET_MP_STATE, e.g. {@link #MP_STATE_RUNNABLE} or {@link #MP_STATE_UNINITIALIZED}. */
    public void setMpState(int state) throws KvmException {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment mpState = call.allocate(4, 4);
            mpState.set(JAVA_INT, 0, state);
            check("KVM_SET_MP_STATE(" + state + ")", Libc.ioctl(fd, Ioctls.KVM_SET_MP_STATE, mpState));
        }
    }

    private void setBlob(String name, long request, byte[] saved, int size) throws KvmException {
        if (saved.length != size) {
            throw new IllegalArgumentException(name + ": saved state has " + saved.length + " bytes, not " + size);
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment buffer = call.allocate(size, 8);
            buffer.copyFrom(MemorySegment.ofArray(saved));
            check(name, Libc.ioctl(fd, request, buffer));
        }
    }

    private void check(String name, int result) throws KvmException {
        if (result < 0) {
            throw new KvmException(name + "(vcpu " + id + ")", -result);
        }
    }

    @Override
    public void close() {
        Libc.munmap(run);
        Libc.close(fd);
        arena.close();
    }
}
