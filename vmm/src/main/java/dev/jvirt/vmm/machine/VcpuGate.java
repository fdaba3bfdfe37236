package dev.jvirt.vmm.machine;

import dev.jvirt.kvm.Vcpu;
import dev.jvirt.kvm.sys.Libc;

import java.util.ArrayList;
import java.util.List;

/**
 * Pauses and resumes all vCPU threads. A pause sets each vCPU's immediate_exit flag and signals
 * its thread, so a vCPU inside KVM_RUN returns with EINTR and one about to enter returns at once;
 * each thread then parks here until resumed. {@link #pause()} returns only once every vCPU is
 * parked, so "stopped" really means no guest instruction runs.
 */
final class VcpuGate {

    private record Member(Vcpu vcpu, int tid) { }

    private final List<Member> members = new ArrayList<>();
    private final int expected;
    private boolean paused;
    private boolean closed;
    private int parked;

    VcpuGate(int expected, boolean startPaused) {
        this.expected = expected;
        this.paused = startPaused;
    }

    /** Called by each vCPU thread before its first KVM_RUN. */
    synchronized void join(Vcpu vcpu) {
        members.add(new Member(vcpu, Libc.gettid()));
        if (paused) {
            vcpu.requestImmediateExit(true);
        }
        notifyAll();
    }

    synchronized void pause() throws InterruptedException {
        if (paused || closed) {
            return;
        }
        paused = true;
        while (members.size() < expected && !closed) {
            wait();
        }
        for (Member member : members) {
            member.vcpu.requestImmediateExit(true);
            Libc.tgkill(member.tid, Libc.SIGUSR1);
        }
        while (parked < members.size() && !closed) {
            wait();
        }
    }

    synchronized void resume() {
        if (!paused) {
            return;
        }
        paused = false;
        for (Member member : members) {
            member.vcpu.requestImmediateExit(false);
        }
        notifyAll();
    }

    synchronized boolean isPaused() {
        return paused;
    }

    /** Stops every vCPU for good (shutdown): they leave their loops at the next exit. */
    synchronized void close() {
        closed = true;
        for (Member member : members) {
            member.vcpu.requestImmediateExit(true);
            Libc.tgkill(member.tid, Libc.SIGUSR1);
        }
        notifyAll();
    }

    /**
     * Called by a vCPU thread after KVM_RUN was interrupted. Parks while paused; returns false
     * when the machine is closing and the thread should end.
     */
    synchronized boolean awaitRunnable(Vcpu vcpu) throws InterruptedException {
        while (paused && !closed) {
            parked++;
            notifyAll();
            try {
                wait();
            } finally {
                parked--;
            }
        }
        if (!closed) {
            vcpu.requestImmediateExit(false);
        }
        return !closed;
    }

    synchronized boolean isClosed() {
        return closed;
    }
}
