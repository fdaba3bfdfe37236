package dev.jvirt.kvm;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/** Encodes and decodes struct kvm_cpuid2 (a count, padding, then kvm_cpuid_entry2 items). */
final class CpuidCodec {

    private CpuidCodec() {
    }

    static List<CpuidEntry> decode(MemorySegment buffer) {
        int count = buffer.get(JAVA_INT, 0);
        List<CpuidEntry> entries = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            long o = 8L + (long) i * CpuidEntry.SIZE;
            entries.add(new CpuidEntry(buffer.get(JAVA_INT, o), buffer.get(JAVA_INT, o + 4), buffer.get(JAVA_INT, o + 8),
                    buffer.get(JAVA_INT, o + 12), buffer.get(JAVA_INT, o + 16), buffer.get(JAVA_INT, o + 20),
                    buffer.get(JAVA_INT, o + 24)));
        }
        return entries;
    }

    static void encode(List<CpuidEntry> entries, MemorySegment buffer) {
        buffer.fill((byte) 0);
        buffer.set(JAVA_INT, 0, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            CpuidEntry e = entries.get(i);
            long o = 8L + (long) i * CpuidEntry.SIZE;
            buffer.set(JAVA_INT, o, e.function());
            buffer.set(JAVA_INT, o + 4, e.index());
            buffer.set(JAVA_INT, o + 8, e.flags());
            buffer.set(JAVA_INT, o + 12, e.eax());
            buffer.set(JAVA_INT, o + 16, e.ebx());
            buffer.set(JAVA_INT, o + 20, e.ecx());
            buffer.set(JAVA_INT, o + 24, e.edx());
        }
    }

    static long size(int count) {
        return 8L + (long) count * CpuidEntry.SIZE;
    }
}
