package dev.jvirt.vmm.machine;

import dev.jvirt.kvm.Vcpu;
import dev.jvirt.kvm.sys.Libc;

import java.util.ArrayList;
import java.util.List;

/**
 * Pauses and resumes all vCPU threads. A pause sets each vCPU's immediate_exit flag and signals
 * its thread, so a vCPU inside KVM_RUN returns with EINTR and one about to enter returns at once
 * (after completing the I/O it exited for, as KVM does with immediate_exit); each thread then
 * parks here until resumed. {@link #pause()} returns only once every vCPU is parked, so "stopped"
 * really means no guest instruction runs.
 *
 * <p>Two independent reasons keep vCPUs parked: a pause (QMP stop, -S) and a hold (a system
 * reset in progress). They run again only when neither applies, so a QMP cont that arrives in
 * the middle of a reset cannot let a vCPU into a half-reset machine.
 */
final class VcpuGate {

    private record Member(Vcpu vcpu, int tid) { }

    private final List<Member> members = new ArrayList<>();
    private final int expected;
    private boolean paused;
    private boolean held;
    private boolean closed;
    private int parked;

    VcpuGate(int expected, boolean startPaused) {
        this.expected = expected;
        this.paused = startPaused;
    }

    /** Called by each vCPU thread before its first KVM_RUN. */
    synchronized void join(Vcpu vcpu) {
        members.add(new Member(vcpu, Libc.gettid()));
        if (stopped()) {
            vcpu.requestImmediateExit(true);
        }
        notifyAll();
    }

    synchronized void pause() throws InterruptedException {
        if (closed) {
            return;
        }
        if (!paused) {
            paused = true;
            kickAll();
        }
        awaitParked();
    }

    synchronized void resume() {
        if (!paused) {
            return;
        }
        paused = false;
        letRunIfFree();
    }

    /**
     * Stops every vCPU for a reset without waiting, so it is safe on a vCPU thread: the caller's
     * own vCPU parks as soon as it is back in its loop, before running another guest instruction.
     */
    synchronized void hold() {
        if (closed || held) {
            return;
        }
        held = true;
        kickAll();
    }

    /** Ends a {@link #hold()}: the vCPUs run again unless paused. */
    synchronized void release() {
        if (!held) {
            return;
        }
        held = false;
        letRunIfFree();
    }

    /**
     * Waits until every vCPU thread has joined and parked; false if the machine closed meanwhile.
     * Only meaningful while paused or held.
     */
    synchronized boolean awaitParked() throws InterruptedException {
        while ((members.size() < expected || parked < members.size()) && !closed) {
            wait();
        }
        return !closed;
    }

    synchronized boolean isPaused() {
        return paused;
    }

    /** Stops every vCPU for good (shutdown): they leave their loops at the next exit. */
    synchronized void close() {
        closed = true;
        kickAll();
        notifyAll();
    }

    /**
     * Called by a vCPU thread after KVM_RUN was interrupted. Parks while paused or held; returns
     * false when the machine is closing and the thread should end.
     */
    synchronized boolean awaitRunnable(Vcpu vcpu) throws InterruptedException {
        while (stopped() && !closed) {
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

    private boolean stopped() {
        return paused || held;
    }

    private void kickAll() {
        for (Member member : members) {
            member.vcpu.requestImmediateExit(true);
            Libc.tgkill(member.tid, Libc.SIGUSR1);
        }
    }

    private void letRunIfFree() {
        if (stopped()) {
            return;
        }
        for (Member member : members) {
            member.vcpu.requestImmediateExit(false);
        }
        notifyAll();
    }
}
