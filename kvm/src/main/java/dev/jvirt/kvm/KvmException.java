package dev.jvirt.kvm;

import dev.jvirt.kvm.sys.NativeException;

/** A KVM ioctl that failed: the message names the ioctl and the errno. */
public final class KvmException extends NativeException {

    public KvmException(String ioctl, int errno) {
        super(ioctl, errno);
    }
}
