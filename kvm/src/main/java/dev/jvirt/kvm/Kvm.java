package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/** The /dev/kvm system file descriptor: API checks, capabilities, supported CPUID, VM creation. */
public final class Kvm implements AutoCloseable {

    /** The only KVM API version there has ever been; anything else is not the KVM we know. */
    public static final int API_VERSION = 12;

    private final int fd;
    private final String path;

    private Kvm(int fd, String path) {
        this.fd = fd;
        this.path = path;
    }

    /**
     * Opens the KVM device and checks the API version and every capability jvirt relies on.
     * Throws with a message naming what is missing.
     */
    public static Kvm open(String path) throws NativeException {
        int fd = Libc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        Kvm kvm = new Kvm(fd, path);
        try {
            int version = kvm.ioctl("KVM_GET_API_VERSION", Ioctls.KVM_GET_API_VERSION, 0);
            if (version != API_VERSION) {
                throw new UnsupportedKvmException(path + " speaks KVM API version " + version + ", jvirt needs " + API_VERSION);
            }
            for (Capability capability : Capability.REQUIRED) {
                if (kvm.checkExtension(capability) <= 0) {
                    throw new UnsupportedKvmException(path + " lacks KVM_CAP_" + capability + ", which jvirt needs");
                }
            }
            return kvm;
        } catch (NativeException | RuntimeException e) {
            kvm.close();
            throw e;
        }
    }

    public String path() {
        return path;
    }

    /** KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value. */
    public int checkExtension(Capability capability) throws KvmException {
        return ioctl("KVM_CHECK_EXTENSION(" + capability + ")", Ioctls.KVM_CHECK_EXTENSION, capability.number);
    }

    public int vcpuMmapSize() throws KvmException {
        return ioctl("KVM_GET_VCPU_MMAP_SIZE", Ioctls.KVM_GET_VCPU_MMAP_SIZE, 0);
    }

    /** KVM_GET_SUPPORTED_CPUID: the leaves this host's KVM can expose to a guest. */
    public List<CpuidEntry> supportedCpuid() throws KvmException {
        for (int capacity = 128; capacity <= 4096; capacity *= 2) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buffer = arena.allocate(8L + (long) capacity * CpuidEntry.SIZE, 8);
                buffer.set(JAVA_INT, 0, capacity);
                int result = Libc.ioctl(fd, Ioctls.KVM_GET_SUPPORTED_CPUID, buffer);
                if (result == -Libc.E2BIG) {
                    continue;
                }
                if (result < 0) {
                    throw new KvmException("KVM_GET_SUPPORTED_CPUID", -result);
                }
                return CpuidCodec.decode(buffer);
            }
        }
        throw new KvmException("KVM_GET_SUPPORTED_CPUID", Libc.E2BIG);
    }

    public Vm createVm() throws NativeException {
        int vmFd = ioctl("KVM_CREATE_VM", Ioctls.KVM_CREATE_VM, 0);
        return new Vm(this, vmFd);
    }

    int ioctl(String name, long request, long arg) throws KvmException {
        int result = Libc.ioctl(fd, request, arg);
        if (result < 0) {
            throw new KvmException(name, -result);
        }
        return result;
    }

    @Override
    public void close() {
        Libc.close(fd);
    }

    /** KVM is present but too old or built without something we need. */
    public static final class UnsupportedKvmException extends RuntimeException {
        public UnsupportedKvmException(String message) {
            super(message);
        }
    }

}
