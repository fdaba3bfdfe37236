package dev.jvirt.kvm;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** struct kvm_sregs: segment, descriptor-table and control registers (312 bytes). */
public final class Sregs {

    static final int SIZE = 312;

    public final Segment cs = new Segment(), ds = new Segment(), es = new Segment(), fs = new Segment();
    public final Segment gs = new Segment(), ss = new Segment(), tr = new Segment(), ldt = new Segment();
    public long gdtBase, idtBase;
    public int gdtLimit, idtLimit;
    public long cr0, cr2, cr3, cr4, cr8, efer, apicBase;
    /** Pending external interrupts as KVM reports them; preserved as read. */
    public final long[] interruptBitmap = new long[4];

    private Segment[] segments() {
        return new Segment[] {cs, ds, es, fs, gs, ss, tr, ldt};
    }

    void readFrom(MemorySegment m) {
        Segment[] all = segments();
        for (int i = 0; i < all.length; i++) {
            all[i].readFrom(m, (long) i * Segment.SIZE);
        }
        gdtBase = m.get(JAVA_LONG, 192);
        gdtLimit = Short.toUnsignedInt(m.get(JAVA_SHORT, 200));
        idtBase = m.get(JAVA_LONG, 208);
        idtLimit = Short.toUnsignedInt(m.get(JAVA_SHORT, 216));
        cr0 = m.get(JAVA_LONG, 224);
        cr2 = m.get(JAVA_LONG, 232);
        cr3 = m.get(JAVA_LONG, 240);
        cr4 = m.get(JAVA_LONG, 248);
        cr8 = m.get(JAVA_LONG, 256);
        efer = m.get(JAVA_LONG, 264);
        apicBase = m.get(JAVA_LONG, 272);
        for (int i = 0; i < 4; i++) {
            interruptBitmap[i] = m.get(JAVA_LONG, 280 + i * 8L);
        }
    }

    void writeTo(MemorySegment m) {
        m.fill((byte) 0);
        Segment[] all = segments();
        for (int i = 0; i < all.length; i++) {
            all[i].writeTo(m, (long) i * Segment.SIZE);
        }
        m.set(JAVA_LONG, 192, gdtBase);
        m.set(JAVA_SHORT, 200, (short) gdtLimit);
        m.set(JAVA_LONG, 208, idtBase);
        m.set(JAVA_SHORT, 216, (short) idtLimit);
        m.set(JAVA_LONG, 224, cr0);
        m.set(JAVA_LONG, 232, cr2);
        m.set(JAVA_LONG, 240, cr3);
        m.set(JAVA_LONG, 248, cr4);
        m.set(JAVA_LONG, 256, cr8);
        m.set(JAVA_LONG, 264, efer);
        m.set(JAVA_LONG, 272, apicBase);
        for (int i = 0; i < 4; i++) {
            m.set(JAVA_LONG, 280 + i * 8L, interruptBitmap[i]);
        }
    }

    @Override
    public String toString() {
        return ("CS %s%nDS %s%nSS %s%nTR %s%nGDT=%016x/%x IDT=%016x/%x%n"
                + "CR0=%016x CR2=%016x CR3=%016x CR4=%016x EFER=%016x APIC_BASE=%016x")
                .formatted(cs, ds, ss, tr, gdtBase, gdtLimit, idtBase, idtLimit, cr0, cr2, cr3, cr4, efer, apicBase);
    }
}
