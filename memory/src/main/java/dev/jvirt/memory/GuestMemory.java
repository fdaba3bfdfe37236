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

    /** Guest page size the discard granularity is checked against (virtio-balloon's PFN unit). */
    public static final long DISCARD_ALIGNMENT = 4096;

    /** Linux's MADV_REMOVE: frees the pages and punches a hole in a shared file mapping's backing file. */
    private static final int MADV_REMOVE = 9;
    private static final int EINVAL = 22;

    /**
     * Gives the host memory behind {@code length} bytes of guest RAM at {@code address} back to
     * the host (a ballooned page): the next guest access faults in a fresh zero page. The range
     * must be 4 KiB aligned and lie inside one region.
     *
     * <p>Anonymous RAM needs MADV_DONTNEED. RAM mapped shared from a -mem-path file would
     * just re-read the file after MADV_DONTNEED, so there MADV_REMOVE punches the hole in the
     * file; the mapping does not say which it is, so MADV_REMOVE is tried first and its EINVAL
     * (not a shared file mapping) sends us to MADV_DONTNEED. On hugetlbfs a range smaller than
     * a huge page is left in place by the kernel, as QEMU's balloon also cannot free it.
     *
     * @throws GuestMemoryException if the range is not guest RAM
     * @throws NativeException if the host refused the advice
     */
    public void discard(long address, long length) throws NativeException {
        if (address % DISCARD_ALIGNMENT != 0 || length % DISCARD_ALIGNMENT != 0) {
            throw new IllegalArgumentException("discard of 0x%x+0x%x is not %d-byte aligned".formatted(address, length, DISCARD_ALIGNMENT));
        }
        if (length == 0) {
            return;
        }
        MemorySegment host = slice(address, length);
        try {
            Libc.madvise(host, MADV_REMOVE);
        } catch (NativeException e) {
            if (e.errno() != EINVAL) {
                throw e;
            }
            Libc.madvise(host, Libc.MADV_DONTNEED);
        }
    }

    @Override
    public void close() {
        regions.forEach(r -> Libc.munmap(r.host()));
    }
}
