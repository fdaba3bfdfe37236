package dev.jvirt.kvm;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** struct kvm_regs: the general-purpose registers, rip and rflags. Mutable, like the C struct. */
public final class Regs {

    static final int SIZE = 18 * 8;

    public long rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    public long r8, r9, r10, r11, r12, r13, r14, r15;
    public long rip, rflags;

    void readFrom(MemorySegment s) {
        rax = s.get(JAVA_LONG, 0); rbx = s.get(JAVA_LONG, 8); rcx = s.get(JAVA_LONG, 16); rdx = s.get(JAVA_LONG, 24);
        rsi = s.get(JAVA_LONG, 32); rdi = s.get(JAVA_LONG, 40); rsp = s.get(JAVA_LONG, 48); rbp = s.get(JAVA_LONG, 56);
        r8 = s.get(JAVA_LONG, 64); r9 = s.get(JAVA_LONG, 72); r10 = s.get(JAVA_LONG, 80); r11 = s.get(JAVA_LONG, 88);
        r12 = s.get(JAVA_LONG, 96); r13 = s.get(JAVA_LONG, 104); r14 = s.get(JAVA_LONG, 112); r15 = s.get(JAVA_LONG, 120);
        rip = s.get(JAVA_LONG, 128); rflags = s.get(JAVA_LONG, 136);
    }

    void writeTo(MemorySegment s) {
        long[] values = {rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags};
        for (int i = 0; i < values.length; i++) {
            s.set(JAVA_LONG, i * 8L, values[i]);
        }
    }

    @Override
    public String toString() {
        return ("RAX=%016x RBX=%016x RCX=%016x RDX=%016x%nRSI=%016x RDI=%016x RBP=%016x RSP=%016x%n"
                + "R8 =%016x R9 =%016x R10=%016x R11=%016x%nR12=%016x R13=%016x R14=%016x R15=%016x%n"
                + "RIP=%016x RFL=%08x").formatted(rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp,
                r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags);
    }
}
