package dev.jvirt.vmm.machine;

import dev.jvirt.devices.bus.InterruptLine;

import java.util.HashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Level-triggered lines several PCI functions share (INTx# on IOAPIC inputs 16-23): the input
 * is asserted while any of its sources asserts, as the wired-OR on a real board does. Without
 * this, one device deasserting would silence another that still needs service.
 */
final class SharedInterruptLines {

    private final IntFunction<InterruptLine> lines;
    private final Map<Integer, boolean[]> sourcesByGsi = new HashMap<>();
    private final Map<Integer, Integer> sourceCount = new HashMap<>();

    SharedInterruptLines(IntFunction<InterruptLine> lines) {
        this.lines = lines;
    }

    /** A new source on {@code gsi}. */
    synchronized InterruptLine source(int gsi) {
        int index = sourceCount.merge(gsi, 1, Integer::sum) - 1;
        boolean[] grown = new boolean[index + 1];
        boolean[] old = sourcesByGsi.get(gsi);
        if (old != null) {
            System.arraycopy(old, 0, grown, 0, old.length);
        }
        sourcesByGsi.put(gsi, grown);
        InterruptLine input = lines.apply(gsi);
        return asserted -> set(gsi, index, asserted, input);
    }

    /** Holds the lock while setting the level, so two sources cannot reorder their updates. */
    private synchronized void set(int gsi, int index, boolean asserted, InterruptLine input) {
        boolean[] sources = sourcesByGsi.get(gsi);
        sources[index] = asserted;
        boolean any = false;
        for (boolean source : sources) {
            any |= source;
        }
        input.setLevel(any);
    }
}
