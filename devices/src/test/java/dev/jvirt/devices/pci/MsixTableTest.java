package dev.jvirt.devices.pci;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MsixTableTest {

    /** What the machine would see: every program() and trigger() per allocated vector. */
    static final class RecordingVector implements MsiVector {
        long address = -1;
        int data = -1;
        final List<String> deliveries = new ArrayList<>();
        boolean closed;

        @Override
        public void program(long address, int data) {
            this.address = address;
            this.data = data;
        }

        @Override
        public void trigger() {
            deliveries.add(Long.toHexString(address) + "/" + Integer.toHexString(data));
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private final List<RecordingVector> allocated = new ArrayList<>();
    private final MsixTable table = new MsixTable(3, () -> {
        RecordingVector v = new RecordingVector();
        allocated.add(v);
        return v;
    });

    /** Linux's __pci_write_msi_msg for MSI-X: address lo, address hi, data, each a 32-bit write. */
    private void program(int vector, long address, int data) {
        table.writeTable(16L * vector, 4, address & 0xFFFF_FFFFL);
        table.writeTable(16L * vector + 4, 4, address >>> 32);
        table.writeTable(16L * vector + 8, 4, data);
    }

    private void unmask(int vector) {
        table.writeTable(16L * vector + 12, 4, 0);
    }

    private void mask(int vector) {
        table.writeTable(16L * vector + 12, 4, 1);
    }

    private void enable() {
        table.writeMessageControl(MsixTable.CONTROL_ENABLE);
    }

    private List<String> deliveries() {
        List<String> all = new ArrayList<>();
        allocated.forEach(v -> all.addAll(v.deliveries));
        return all;
    }

    @Test
    void startsDisabledWithEveryEntryMaskedAndTableSizeMinusOneInMessageControl() {
        assertEquals(2, table.messageControl());
        assertFalse(table.isEnabled());
        for (int v = 0; v < 3; v++) {
            assertEquals(1, table.readTable(16L * v + 12, 4), "vector control of " + v);
        }
        assertFalse(table.fire(0), "disabled: the caller uses INTx");
        assertTrue(allocated.isEmpty());
    }

    @Test
    void unmaskedVectorDeliversItsProgrammedMessage() {
        program(1, 0xFEE0_1000L, 0x4041);
        enable();
        unmask(1);
        assertTrue(table.fire(1));
        assertEquals(List.of("fee01000/4041"), deliveries());
        assertEquals(0xFEE0_1000L, table.readTable(16, 4));
        assertEquals(0x4041, table.readTable(24, 4));
        assertEquals(0xFEE0_1000L, table.readTable(16, 8), "qword read of the address");
    }

    @Test
    void maskedVectorBecomesPendingAndUnmaskingDeliversItOnce() {
        program(0, 0xFEE0_0000L, 0x31);
        enable();
        assertTrue(table.fire(0));
        assertTrue(table.fire(0));
        assertTrue(deliveries().isEmpty());
        assertTrue(table.isPending(0));
        assertEquals(1, table.readPba(0, 8));
        unmask(0);
        assertEquals(List.of("fee00000/31"), deliveries(), "two masked fires, one pending bit, one delivery");
        assertFalse(table.isPending(0));
        assertEquals(0, table.readPba(0, 4));
    }

    @Test
    void functionMaskHoldsEveryVectorUntilCleared() {
        program(0, 0xFEE0_0000L, 0x30);
        program(2, 0xFEE0_0000L, 0x32);
        unmask(0);
        unmask(2);
        table.writeMessageControl(MsixTable.CONTROL_ENABLE | MsixTable.CONTROL_FUNCTION_MASK);
        assertEquals(MsixTable.CONTROL_ENABLE | MsixTable.CONTROL_FUNCTION_MASK | 2, table.messageControl());
        table.fire(2);
        table.fire(0);
        assertTrue(deliveries().isEmpty());
        assertEquals(0b101, table.readPba(0, 1));
        enable();
        assertEquals(List.of("fee00000/30", "fee00000/32"), deliveries());
        assertEquals(0, table.readPba(0, 8));
    }

    @Test
    void reprogrammingWhileMaskedIsWhatTheNextDeliveryCarries() {
        program(0, 0xFEE0_0000L, 0x30);
        enable();
        unmask(0);
        table.fire(0);
        mask(0);
        program(0, 0xFEE0_2000L, 0x55);
        unmask(0);
        table.fire(0);
        assertEquals(List.of("fee00000/30", "fee02000/55"), deliveries());
        assertEquals(1, allocated.size(), "one vector per entry, reprogrammed");
    }

    @Test
    void disablingMsixSendsTheCallerBackToIntx() {
        enable();
        unmask(0);
        table.writeMessageControl(0);
        assertFalse(table.fire(0));
        assertFalse(table.isPending(0));
        assertTrue(deliveries().isEmpty());
    }

    @Test
    void vectorOutsideTheTableIsDroppedWhileEnabled() {
        enable();
        assertTrue(table.fire(3));
        assertTrue(table.fire(0xFFFF));
        assertTrue(table.fire(-1));
        assertTrue(deliveries().isEmpty());
        assertEquals(0, table.readPba(0, 8));
    }

    @Test
    void hostileOffsetsAndSizesNeverThrowNorReachOutside() {
        long[] offsets = {-16, -1, 0, 1, 3, 7, 13, 15, 46, 47, 48, 49, 63, 4096, Long.MAX_VALUE, Long.MIN_VALUE};
        int[] sizes = {-1, 0, 1, 2, 3, 4, 5, 8, 9, 16, Integer.MAX_VALUE};
        for (long offset : offsets) {
            for (int size : sizes) {
                table.writeTable(offset, size, -1L);
                table.readTable(offset, size);
                table.writePba(offset, size, -1L);
                table.readPba(offset, size);
            }
        }
        // Only the bytes inside the table changed: reserved vector-control bits stay zero,
        // the address keeps its low two bits clear, the PBA is untouched.
        assertEquals(1, table.readTable(12, 4));
        assertEquals(0xFFFF_FFFCL, table.readTable(0, 4));
        assertEquals(0, table.readTable(48, 8), "past the last entry");
        assertEquals(0, table.readPba(0, 8));
        assertEquals(0, table.readPba(8, 8), "past the PBA");
    }

    @Test
    void entryWrittenByBytesAndAsOneQwordReadsBackTheSame() {
        table.writeTable(16, 8, 0x0000_0001_FEE0_3000L);
        table.writeTable(24, 1, 0x12);
        table.writeTable(25, 1, 0x34);
        assertEquals(0x0000_0001_FEE0_3000L, table.readTable(16, 8));
        assertEquals(0x3412, table.readTable(24, 2));
        assertEquals(0xFE, table.readTable(19, 1));
        table.writeTable(24, 8, 0x0000_0000_0000_0099L); // data and vector control in one write: unmasks
        enable();
        table.fire(1);
        assertEquals(List.of("1fee03000/99"), deliveries());
    }

    @Test
    void resetMasksClearsAndClosesEverything() {
        program(0, 0xFEE0_0000L, 0x30);
        enable();
        unmask(0);
        table.fire(0);
        mask(0);
        table.fire(0);
        table.reset();
        assertEquals(2, table.messageControl());
        assertEquals(0, table.readTable(0, 8));
        assertEquals(1, table.readTable(12, 4));
        assertEquals(0, table.readPba(0, 8));
        assertTrue(allocated.getFirst().closed);
        enable();
        unmask(0);
        table.fire(0);
        assertEquals(2, allocated.size(), "a fresh vector after reset");
        assertEquals("0/0", allocated.get(1).deliveries.getFirst());
    }

    @Test
    void capabilityAnswersMessageControlFromTheTableAndForwardsEnable() {
        PciConfigSpace space = new PciConfigSpace(0x1AF4, 0x1041, 2, 0, 0, 1);
        MsixCapability capability = new MsixCapability(space, table, 1, 0, 1, 0x800);
        int at = space.read(PciConfigSpace.CAPABILITIES_POINTER, 1);
        assertEquals(capability.offset(), at);
        assertEquals(MsixCapability.ID, space.read(at, 1));
        assertEquals(1, space.read(at + 4, 4), "table in BAR 1 at 0");
        assertEquals(0x801, space.read(at + 8, 4), "PBA in BAR 1 at 0x800");
        int dword = capability.overlayRead(at, 4, space.read(at, 4));
        assertEquals(2, dword >>> 16, "table size 3, encoded as N-1");
        // pci_msix_clear_and_set_ctrl: 16-bit read-modify-write of Message Control.
        int control = capability.overlayRead(at + 2, 2, space.read(at + 2, 2));
        capability.configWritten(at + 2, 2, control | MsixTable.CONTROL_ENABLE | 0x7FF);
        assertTrue(table.isEnabled());
        assertEquals(0x8002, capability.overlayRead(at + 2, 2, space.read(at + 2, 2)), "table size is read-only");
        capability.configWritten(at, 4, 0);
        assertFalse(table.isEnabled());
    }
}
