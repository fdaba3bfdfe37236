package dev.jvirt.memory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The BIOS-style e820 memory map handed to the guest kernel in boot_params. */
public final class E820Map {

    public static final int RAM = 1;
    public static final int RESERVED = 2;
    public static final int ACPI = 3;

    public record Entry(long address, long size, int type) { }

    private final List<Entry> entries = new ArrayList<>();

    public E820Map add(long address, long size, int type) {
        if (size > 0) {
            entries.add(new Entry(address, size, type));
        }
        return this;
    }

    public List<Entry> entries() {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort((a, b) -> Long.compareUnsigned(a.address, b.address));
        return Collections.unmodifiableList(sorted);
    }
}
