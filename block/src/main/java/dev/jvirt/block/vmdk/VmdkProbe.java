package dev.jvirt.block.vmdk;

/** Probing for VMDK descriptor files, for the format probe outside this package. */
public final class VmdkProbe {

    private VmdkProbe() {
    }

    /** Whether {@code head} reads like a VMDK text descriptor, by qemu-img's rule. */
    public static boolean looksLikeDescriptor(byte[] head, int length) {
        return VmdkDescriptor.looksLikeDescriptor(head, length);
    }
}
