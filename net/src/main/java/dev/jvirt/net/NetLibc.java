package dev.jvirt.net;

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
 * The libc calls the net module needs (open, ioctl, readv/writev, poll, eventfd, socket), bound
 * with java.lang.foreign. Calls return the result or {@code -errno}, so the frame paths throw
 * nothing and allocate nothing; the callers turn errors into {@link NetException}s.
 */
final class NetLibc {

    static final int O_RDWR = 2;
    static final int O_NONBLOCK = 0x800;
    static final int O_CLOEXEC = 0x80000;

    static final int EINTR = 4;
    static final int EAGAIN = 11;

    static final int AF_UNIX = 1;
    static final int SOCK_DGRAM = 2;
    static final int SOCK_CLOEXEC = 0x80000;

    static final int EFD_NONBLOCK = 0x800;
    static final int EFD_CLOEXEC = 0x80000;

    static final short POLLIN = 0x1;
    static final short POLLOUT = 0x4;

    /** struct pollfd: int fd; short events; short revents. */
    static final long POLLFD_SIZE = 8;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle OPEN = call("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), 2);
    private static final MethodHandle CLOSE = call("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle IOCTL_PTR = call("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), 2);
    private static final MethodHandle IOCTL_LONG = call("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), 2);
    private static final MethodHandle READV = call("readv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle WRITEV = call("writev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT), -1);
    private static final MethodHandle READ = call("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
    private static final MethodHandle WRITE = call("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), -1);
    private static final MethodHandle POLL = call("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), -1);
    private static final MethodHandle EVENTFD = call("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle SOCKET = call("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), -1);
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LIBC.find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    /** Per-thread errno scratch, so the frame paths allocate nothing. */
    private static final ThreadLocal<MemorySegment> STATE = ThreadLocal.withInitial(() -> Arena.global().allocate(CALL_STATE));

    private NetLibc() {
    }

    private static MethodHandle call(String name, FunctionDescriptor descriptor, int firstVariadicArg) {
        MemorySegment symbol = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        Linker.Option[] options = firstVariadicArg >= 0
                ? new Linker.Option[] {capture, Linker.Option.firstVariadicArg(firstVariadicArg)}
                : new Linker.Option[] {capture};
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    static String strerror(int errno) {
        try {
            MemorySegment message = (MemorySegment) STRERROR.invokeExact(errno);
            return message.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    static int open(String path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = STATE.get();
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), flags);
            return fd < 0 ? -errno(state) : fd;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static void close(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(STATE.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int ioctl(int fd, long request, MemorySegment arg) {
        try {
            MemorySegment state = STATE.get();
            int result = (int) IOCTL_PTR.invokeExact(state, fd, request, arg);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int ioctl(int fd, long request, long arg) {
        try {
            MemorySegment state = STATE.get();
            int result = (int) IOCTL_LONG.invokeExact(state, fd, request, arg);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long readv(int fd, MemorySegment iovecs, int count) {
        try {
            MemorySegment state = STATE.get();
            long result = (long) READV.invokeExact(state, fd, iovecs, count);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long writev(int fd, MemorySegment iovecs, int count) {
        try {
            MemorySegment state = STATE.get();
            long result = (long) WRITEV.invokeExact(state, fd, iovecs, count);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long read(int fd, MemorySegment buffer) {
        try {
            MemorySegment state = STATE.get();
            long result = (long) READ.invokeExact(state, fd, buffer, buffer.byteSize());
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long write(int fd, MemorySegment buffer) {
        try {
            MemorySegment state = STATE.get();
            long result = (long) WRITE.invokeExact(state, fd, buffer, buffer.byteSize());
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** poll over {@code count} struct pollfd in {@code fds}; returns the ready count or -errno. */
    static int poll(MemorySegment fds, int count, int timeoutMillis) {
        try {
            MemorySegment state = STATE.get();
            int result = (int) POLL.invokeExact(state, fds, (long) count, timeoutMillis);
            return result < 0 ? -errno(state) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int eventfd(int initial, int flags) {
        try {
            MemorySegment state = STATE.get();
            int fd = (int) EVENTFD.invokeExact(state, initial, flags);
            return fd < 0 ? -errno(state) : fd;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int socket(int domain, int type, int protocol) {
        try {
            MemorySegment state = STATE.get();
            int fd = (int) SOCKET.invokeExact(state, domain, type, protocol);
            return fd < 0 ? -errno(state) : fd;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static void setPollFd(MemorySegment fds, int index, int fd, short events) {
        fds.set(ValueLayout.JAVA_INT, index * POLLFD_SIZE, fd);
        fds.set(ValueLayout.JAVA_SHORT, index * POLLFD_SIZE + 4, events);
        fds.set(ValueLayout.JAVA_SHORT, index * POLLFD_SIZE + 6, (short) 0);
    }

    static short pollRevents(MemorySegment fds, int index) {
        return fds.get(ValueLayout.JAVA_SHORT, index * POLLFD_SIZE + 6);
    }
}
