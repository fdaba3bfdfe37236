package dev.jvirt.kvm.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The few libc calls jvirt needs, bound with java.lang.foreign. Every call that can fail
 * captures errno so the caller can raise an exception that names the call and the error.
 * Only the kvm, memory and net modules use this class.
 */
public final class Libc {

    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = 0x80000;

    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int PROT_EXEC = 4;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;
    public static final int MADV_DONTNEED = 4;
    public static final int MADV_MERGEABLE = 12;
    public static final int MADV_HUGEPAGE = 14;

    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int E2BIG = 7;

    public static final int SIGUSR1 = 10;

    public static final int ENOSYS = 38;
    public static final int EBADF = 9;

    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;
    public static final int EPOLL_CLOEXEC = 0x80000;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLL_CTL_DEL = 2;
    public static final int EPOLLIN = 0x001;
    /** struct epoll_event is packed on x86-64: u32 events, then u64 data at offset 4. */
    public static final long EPOLL_EVENT_SIZE = 12;
    public static final short POLLIN = 0x001;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle OPEN = errnoCall("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), 2);
    private static final MethodHandle CLOSE = errnoCall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle IOCTL_LONG = errnoCall("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), 2);
    private static final MethodHandle IOCTL_PTR = errnoCall("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), 2);
    private static final MethodHandle MMAP = errnoCall("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), -1);

    // Linked on first use: each downcall costs milliseconds to link at start-up (much more in a
    // nested guest), and a VM without virtio devices or pauses never needs these before it runs.
    private static final class Unmapping {
        static final MethodHandle MUNMAP = errnoCall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), -1);
        static final MethodHandle MADVISE = errnoCall("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), -1);
    }

    private static final class Threads {
        static final MethodHandle GETTID = plainCall("gettid", FunctionDescriptor.of(JAVA_INT));
        static final MethodHandle GETPID = plainCall("getpid", FunctionDescriptor.of(JAVA_INT));
        static final MethodHandle TGKILL = errnoCall("tgkill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), -1);
    }

    private static final class Signals {
        static final MethodHandle SIGACTION = errnoCall("sigaction", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), -1);
    }

    private static final class Errors {
        static final MethodHandle STRERROR = plainCall("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    private static final class EventFds {
        static final MethodHandle EVENTFD = errnoCall("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), -1);
        static final MethodHandle READ = errnoCall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
        static final MethodHandle WRITE = errnoCall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
        static final MethodHandle POLL = errnoCall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), -1);
    }

    private static final class Epoll {
        static final MethodHandle EPOLL_CREATE1 = errnoCall("epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
        static final MethodHandle EPOLL_CTL = errnoCall("epoll_ctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), -1);
        static final MethodHandle EPOLL_WAIT = errnoCall("epoll_wait", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), -1);
    }

    private static final long MAP_FAILED = -1L;

    private Libc() {
    }

    private static MethodHandle errnoCall(String name, FunctionDescriptor descriptor, int firstVariadicArg) {
        MemorySegment symbol = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        Linker.Option[] options = firstVariadicArg >= 0
                ? new Linker.Option[] {CAPTURE_ERRNO, Linker.Option.firstVariadicArg(firstVariadicArg)}
                : new Linker.Option[] {CAPTURE_ERRNO};
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    private static MethodHandle plainCall(String name, FunctionDescriptor descriptor) {
        MemorySegment symbol = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, descriptor);
    }

    /** Per-thread scratch for errno, so hot calls (KVM_RUN) allocate nothing. */
    private static final ThreadLocal<MemorySegment> CALL_STATE_BUFFER =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CALL_STATE));

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    public static String strerror(int errno) {
        try {
            MemorySegment message = (MemorySegment) Errors.STRERROR.invokeExact(errno);
            return message.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    public static int open(String path, int flags) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = CALL_STATE_BUFFER.get();
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), flags);
            if (fd < 0) {
                throw new NativeException("open " + path, errno(state));
            }
            return fd;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void close(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(CALL_STATE_BUFFER.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** ioctl with an integer argument; returns the result, or -errno on failure. */
    public static int ioctl(int fd, long request, long arg) {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            int result = (int) IOCTL_LONG.invokeExact(state, fd, request, arg);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** ioctl with a pointer argument; returns the result, or -errno on failure. */
    public static int ioctl(int fd, long request, MemorySegment arg) {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            int result = (int) IOCTL_PTR.invokeExact(state, fd, request, arg);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** mmap, returning a segment of exactly {@code length} bytes. */
    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset) throws NativeException {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            MemorySegment address = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, length, prot, flags, fd, offset);
            if (address.address() == MAP_FAILED) {
                throw new NativeException("mmap of " + length + " bytes", errno(state));
            }
            return address.reinterpret(length);
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void munmap(MemorySegment segment) {
        try {
            int ignored = (int) Unmapping.MUNMAP.invokeExact(CALL_STATE_BUFFER.get(), segment, segment.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void madvise(MemorySegment segment, int advice) throws NativeException {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            int result = (int) Unmapping.MADVISE.invokeExact(state, segment, segment.byteSize(), advice);
            if (result < 0) {
                throw new NativeException("madvise(" + advice + ")", errno(state));
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int gettid() {
        try {
            return (int) Threads.GETTID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int getpid() {
        try {
            return (int) Threads.GETPID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Sends {@code signal} to one thread of this process; returns false if the thread is gone. */
    public static boolean tgkill(int tid, int signal) {
        try {
            return (int) Threads.TGKILL.invokeExact(CALL_STATE_BUFFER.get(), getpid(), tid, signal) == 0;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    // glibc's struct sigaction on x86-64: handler, 128-byte mask, int flags, restorer.
    private static final long SIGACTION_SIZE = 152;
    private static final long SA_FLAGS_OFFSET = 136;

    /**
     * Installs a handler that does nothing for {@code signal}. Its only purpose is that the
     * signal is delivered (not ignored), so a thread blocked in KVM_RUN returns with EINTR.
     * The handler is a single x86 {@code ret} instruction in an executable page, because a
     * Java upcall is not safe to run in signal context.
     */
    public static void installNoOpHandler(int signal) throws NativeException {
        MemorySegment page = mmap(4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        page.set(ValueLayout.JAVA_BYTE, 0, (byte) 0xC3); // ret
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            MethodHandle mprotect = errnoCall("mprotect", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), -1);
            if ((int) mprotect.invokeExact(state, page, 4096L, PROT_READ | PROT_EXEC) < 0) {
                throw new NativeException("mprotect", errno(state));
            }
            MemorySegment action = Arena.global().allocate(SIGACTION_SIZE, 8);
            action.set(ValueLayout.JAVA_LONG, 0, page.address());
            action.set(JAVA_INT, SA_FLAGS_OFFSET, 0);
            if ((int) Signals.SIGACTION.invokeExact(state, signal, action, MemorySegment.NULL) < 0) {
                throw new NativeException("sigaction(" + signal + ")", errno(state));
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    // --- eventfd, read/write, poll, epoll (for irqfd/ioeventfd plumbing) ----------------------------

    /** eventfd2 with {@code flags} (EFD_CLOEXEC, EFD_NONBLOCK); returns the new descriptor. */
    public static int eventfd(int initialValue, int flags) throws NativeException {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            int fd = (int) EventFds.EVENTFD.invokeExact(state, initialValue, flags);
            if (fd < 0) {
                throw new NativeException("eventfd", errno(state));
            }
            return fd;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** read(2) into the whole of {@code buffer}; returns the byte count, or -errno on failure. */
    public static long read(int fd, MemorySegment buffer) {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            long result = (long) EventFds.READ.invokeExact(state, fd, buffer, buffer.byteSize());
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** write(2) of the whole of {@code buffer}; returns the byte count, or -errno on failure. */
    public static long write(int fd, MemorySegment buffer) {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            long result = (long) EventFds.WRITE.invokeExact(state, fd, buffer, buffer.byteSize());
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (negative: forever) for {@code events} on one descriptor.
     * Returns the returned events (0 on timeout), or -errno on failure.
     */
    public static int poll(int fd, short events, int timeoutMillis) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollFd = arena.allocate(8, 4); // struct pollfd: int fd, short events, short revents
            pollFd.set(JAVA_INT, 0, fd);
            pollFd.set(ValueLayout.JAVA_SHORT, 4, events);
            MemorySegment state = CALL_STATE_BUFFER.get();
            int result = (int) EventFds.POLL.invokeExact(state, pollFd, 1L, timeoutMillis);
            if (result < 0) {
                return -errno(state);
            }
            return result == 0 ? 0 : Short.toUnsignedInt(pollFd.get(ValueLayout.JAVA_SHORT, 6));
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int epollCreate1(int flags) throws NativeException {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            int fd = (int) Epoll.EPOLL_CREATE1.invokeExact(state, flags);
            if (fd < 0) {
                throw new NativeException("epoll_create1", errno(state));
            }
            return fd;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** epoll_ctl with one event of {@code events} carrying {@code data}; returns 0, or -errno on failure. */
    public static int epollCtl(int epollFd, int op, int fd, int events, long data) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment event = arena.allocate(EPOLL_EVENT_SIZE, 4);
            event.set(JAVA_INT, 0, events);
            event.set(ValueLayout.JAVA_LONG_UNALIGNED, 4, data);
            MemorySegment state = CALL_STATE_BUFFER.get();
            int result = (int) Epoll.EPOLL_CTL.invokeExact(state, epollFd, op, fd, event);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * epoll_wait into {@code events} (room for {@code byteSize / EPOLL_EVENT_SIZE} events); returns
     * the number of ready events, or -errno on failure (-EINTR when a signal interrupted the wait).
     */
    public static int epollWait(int epollFd, MemorySegment events, int timeoutMillis) {
        try {
            MemorySegment state = CALL_STATE_BUFFER.get();
            int maxEvents = (int) (events.byteSize() / EPOLL_EVENT_SIZE);
            int result = (int) Epoll.EPOLL_WAIT.invokeExact(state, epollFd, events, maxEvents, timeoutMillis);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The {@code index}-th event of an epoll_wait result: its event bits. */
    public static int epollEvents(MemorySegment events, int index) {
        return events.get(JAVA_INT, index * EPOLL_EVENT_SIZE);
    }

    /** The {@code index}-th event of an epoll_wait result: the data registered with it. */
    public static long epollData(MemorySegment events, int index) {
        return events.get(ValueLayout.JAVA_LONG_UNALIGNED, index * EPOLL_EVENT_SIZE + 4);
    }
}
