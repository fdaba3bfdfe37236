package dev.jvirt.kvm.sys;

/** A failed libc call, naming the call and the errno it returned. */
public class NativeException extends Exception {

    private final int errno;

    public NativeException(String call, int errno) {
        super(call + " failed: " + Libc.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
