package dev.jvirt.virtio.queue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The slices devices use for I/O straight into guest RAM. */
class DescriptorChainTest {

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment ram = arena.allocate(64 * 1024, 4096);

    @AfterEach
    void free() {
        arena.close();
    }

    private Descriptor buffer(long address, int length, boolean writable) {
        return new Descriptor(address, length, writable, ram.asSlice(address, length));
    }

    @Test
    void neighbouringBuffersBecomeOneSliceAndGapsSplitThem() {
        // Header at 0 (16 bytes), then data at 16..4096 and 4096..8192 (back to back), then 12288..16384.
        DescriptorChain chain = new DescriptorChain(0, List.of(buffer(0, 16, false), buffer(16, 4080, false),
                buffer(4096, 4096, false), buffer(12288, 4096, false)), List.of(buffer(20000, 1, true)));

        List<MemorySegment> slices = chain.readableSlices(16, 4080 + 4096 + 4096);

        assertEquals(2, slices.size());
        assertEquals(ram.address() + 16, slices.get(0).address());
        assertEquals(4080 + 4096, slices.get(0).byteSize());
        assertEquals(ram.address() + 12288, slices.get(1).address());
        assertEquals(4096, slices.get(1).byteSize());
    }

    @Test
    void slicesStopAtTheRequestedLength() {
        DescriptorChain chain = new DescriptorChain(0, List.of(), List.of(buffer(0, 4096, true), buffer(8192, 4096, true)));

        List<MemorySegment> slices = chain.writableSlices(0, 4096 + 100);

        assertEquals(2, slices.size());
        assertEquals(4096, slices.get(0).byteSize());
        assertEquals(100, slices.get(1).byteSize());
        assertEquals(ram.address() + 8192, slices.get(1).address());
    }

    @Test
    void rangesBeyondThePartAreRefused() {
        DescriptorChain chain = new DescriptorChain(0, List.of(buffer(0, 512, false)), List.of(buffer(4096, 1, true)));

        assertThrows(IndexOutOfBoundsException.class, () -> chain.readableSlices(16, 512));
        assertThrows(IndexOutOfBoundsException.class, () -> chain.writableSlices(0, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> chain.readableSlices(-1, 1));
    }
}
