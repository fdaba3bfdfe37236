package dev.jvirt.memory;

import dev.jvirt.kvm.sys.Libc;
import dev.jvirt.kvm.sys.NativeException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest physical memory laid out like a PC: RAM from 0 up to the 32-bit PCI hole, the rest above
 * 4 GiB. All device and loader access to guest RAM goes through the bounds-checked methods here;
 * an address outside RAM raises {@link GuestMemoryException}, never touches host memory.
 */
public final class GuestMemory implements AutoCloseable {

    /** Start of the 32-bit MMIO hole (PCI BARs, IOAPIC, LAPIC); RAM never sits here. */
    public static final long MMIO_HOLE_START = 0xC000_0000L;
    public static final long FOUR_GIB = 0x1_0000_0000L;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final List<GuestRegion> regions;
    private final long ramSize;

    private GuestMemory(List<GuestRegion> regions, long ramSize) {
        this.regions = List.copyOf(regions);
        this.ramSize = ramSize;
    }

    /** Allocates {@code ramSize} bytes of guest RAM from {@code backend}, split around the MMIO hole. */
    public static GuestMemory allocate(long ramSize, MemoryBackend backend) throws NativeException, IOException {
        if (ramSize <= 0 || (ramSize & 0xFFF) != 0) {
            throw new IllegalArgumentException("guest RAM size must be a positive multiple of 4 KiB, not " + ramSize);
        }
        List<GuestRegion> regions = new ArrayList<>();
        long low = Math.min(ramSize, MMIO_HOLE_START);
        try {
            regions.add(new GuestRegion(0, backend.allocate(low)));
            if (ramSize > low) {
                regions.add(new GuestRegion(FOUR_GIB, backend.allocate(ramSize - low)));
            }
        } catch (NativeException | IOException | RuntimeException e) {
            regions.forEach(r -> Libc.munmap(r.host()));
            throw e;
        }
        return new GuestMemory(regions, ramSize);
    }

    public List<GuestRegion> regions() {
        return regions;
    }

    public long ramSize() {
        return ramSize;
    }

    /** RAM below the MMIO hole: where boot structures, the kernel and the initrd must go. */
    public long lowRamEnd() {
        return regions.getFirst().guestEnd();
    }

    /**
     * A view of {@code length} bytes of guest RAM at {@code address}. The range must lie inside one
     * region; otherwise the guest gave us a bad address.
     */
    public MemorySegment slice(long address, long length) {
        for (GuestRegion region : regions) {
            if (region.contains(address, length)) {
                return region.host().asSlice(address - region.guestBase(), length);
            }
        }
        throw new GuestMemoryException(address, length);
    }

    public boolean isRam(long address, long length) {
        for (GuestRegion region : regions) {
            if (region.contains(address, length)) {
                return true;
            }
        }
        return false;
    }

    public void write(long address, byte[] data) {
        write(address, data, 0, data.length);
    }

    public void write(long address, byte[] data, int offset, int length) {
        MemorySegment.copy(data, offset, slice(address, length), ValueLayout.JAVA_BYTE, 0, length);
    }

    public void read(long address, byte[] into, int offset, int length) {
        MemorySegment.copy(slice(address, length), ValueLayout.JAVA_BYTE, 0, into, offset, length);
    }

    public byte[] read(long address, int length) {
        byte[] data = new byte[length];
        read(address, data, 0, length);
        return data;
    }

    public int readU8(long address) {
        return Byte.toUnsignedInt(slice(address, 1).get(ValueLayout.JAVA_BYTE, 0));
    }

    public int readU16(long address) {
        return Short.toUnsignedInt(slice(address, 2).get(SHORT, 0));
    }

    public int readInt(long address) {
        return slice(address, 4).get(INT, 0);
    }

    public long readLong(long address) {
        return slice(address, 8).get(LONG, 0);
    }

    public void writeU8(long address, int value) {
        slice(address, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) value);
    }

    public void writeU16(long address, int value) {
        slice(address, 2).set(SHORT, 0, (short) value);
    }

    public void writeInt(long address, int value) {
        slice(address, 4).set(INT, 0, value);
    }

    public void writeLong(long address, long value) {
        slice(address, 8).set(LONG, 0, value);
    }

    public void fill(long address, long length, byte value) {
        slice(address, length).fill(value);
    }

    @Override
    public void close() {
        regions.forEach(r -> Libc.munmap(r.host()));
    }
}
