package dev.jvirt.kvm;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** struct kvm_segment: one segment register as KVM sees it (24 bytes). */
public final class Segment {

    static final int SIZE = 24;

    public long base;
    public int limit;
    public int selector;
    public int type;
    public boolean present, db, s, l, g, avl, unusable;
    public int dpl;

    void readFrom(MemorySegment m, long o) {
        base = m.get(JAVA_LONG, o);
        limit = m.get(JAVA_INT, o + 8);
        selector = Short.toUnsignedInt(m.get(JAVA_SHORT, o + 12));
        type = m.get(JAVA_BYTE, o + 14);
        present = m.get(JAVA_BYTE, o + 15) != 0;
        dpl = m.get(JAVA_BYTE, o + 16);
        db = m.get(JAVA_BYTE, o + 17) != 0;
        s = m.get(JAVA_BYTE, o + 18) != 0;
        l = m.get(JAVA_BYTE, o + 19) != 0;
        g = m.get(JAVA_BYTE, o + 20) != 0;
        avl = m.get(JAVA_BYTE, o + 21) != 0;
        unusable = m.get(JAVA_BYTE, o + 22) != 0;
    }

    void writeTo(MemorySegment m, long o) {
        m.set(JAVA_LONG, o, base);
        m.set(JAVA_INT, o + 8, limit);
        m.set(JAVA_SHORT, o + 12, (short) selector);
        m.set(JAVA_BYTE, o + 14, (byte) type);
        m.set(JAVA_BYTE, o + 15, flag(present));
        m.set(JAVA_BYTE, o + 16, (byte) dpl);
        m.set(JAVA_BYTE, o + 17, flag(db));
        m.set(JAVA_BYTE, o + 18, flag(s));
        m.set(JAVA_BYTE, o + 19, flag(l));
        m.set(JAVA_BYTE, o + 20, flag(g));
        m.set(JAVA_BYTE, o + 21, flag(avl));
        m.set(JAVA_BYTE, o + 22, flag(unusable));
        m.set(JAVA_BYTE, o + 23, (byte) 0);
    }

    private static byte flag(boolean b) {
        return (byte) (b ? 1 : 0);
    }

    @Override
    public String toString() {
        return "sel=%04x base=%016x lim=%08x type=%x p=%d dpl=%d db=%d s=%d l=%d g=%d"
                .formatted(selector, base, limit, type, present ? 1 : 0, dpl, db ? 1 : 0, s ? 1 : 0, l ? 1 : 0, g ? 1 : 0);
    }
}
