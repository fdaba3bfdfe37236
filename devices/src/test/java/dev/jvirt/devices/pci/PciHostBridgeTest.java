package dev.jvirt.devices.pci;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PciHostBridgeTest {

    private static final int CF8 = 0, CF9 = 1, CFB = 3, CFC = 4;

    private final PciBus bus = new PciBus();
    private final AtomicInteger resets = new AtomicInteger();
    private final PciHostBridge bridge = new PciHostBridge(bus, resets::incrementAndGet);

    /** Linux's pci_conf1_read(): address to 0xCF8, then inb/inw/inl at 0xCFC + (reg & 3). */
    private int conf1Read(int bus, int slot, int function, int reg, int size) {
        bridge.write(CF8, 4, 0x8000_0000 | bus << 16 | slot << 11 | function << 8 | (reg & 0xFC));
        return bridge.read(CFC + (reg & 3), size) & (size == 4 ? -1 : (1 << 8 * size) - 1);
    }

    private void conf1Write(int slot, int reg, int size, int value) {
        bridge.write(CF8, 4, 0x8000_0000 | slot << 11 | (reg & 0xFC));
        bridge.write(CFC + (reg & 3), size, value);
    }

    private static PciDevice deviceOn(PciConfigSpace space) {
        return new PciDevice() {
            @Override
            public int readConfig(int offset, int size) {
                return space.read(offset, size);
            }

            @Override
            public void writeConfig(int offset, int size, int value) {
                space.write(offset, size, value);
            }

            @Override
            public List<PciBar> bars() {
                return space.bars();
            }
        };
    }

    @Test
    void linuxDetectsConfigMechanismOneAndItsSanityCheckFindsTheHostBridge() {
        bridge.write(CFB, 1, 0x01);
        int saved = bridge.read(CF8, 4);
        bridge.write(CF8, 4, 0x8000_0000);
        assertEquals(0x8000_0000, bridge.read(CF8, 4), "pci_check_type1");
        bridge.write(CF8, 4, saved);

        boolean found = false;
        for (int devfn = 0; devfn < 256 && !found; devfn++) {
            int cls = conf1Read(0, devfn >> 3, devfn & 7, 0x0A, 2);
            int vendor = conf1Read(0, devfn >> 3, devfn & 7, 0x00, 2);
            found = cls == 0x0600 || vendor == 0x8086;
        }
        assertEquals(true, found, "pci_sanity_check");
        assertEquals(0x1237_8086, conf1Read(0, 0, 0, 0x00, 4));
        assertEquals(0x06, conf1Read(0, 0, 0, 0x0B, 1), "class: bridge");
        assertEquals(0x00, conf1Read(0, 0, 0, 0x0E, 1), "header type 0, single function");
    }

    @Test
    void absentFunctionsReadAllOnesAtEveryWidth() {
        assertEquals(0xFFFF_FFFF, conf1Read(0, 5, 0, 0x00, 4));
        assertEquals(0xFFFF, conf1Read(0, 5, 0, 0x02, 2));
        assertEquals(0xFF, conf1Read(0, 5, 0, 0x0E, 1));
        assertEquals(0xFFFF_FFFF, conf1Read(0, 0, 1, 0x00, 4), "function 1 of the bridge");
        assertEquals(0xFFFF_FFFF, conf1Read(1, 0, 0, 0x00, 4), "bus 1");
        bridge.write(CF8, 4, 0); // enable bit clear
        assertEquals(-1, bridge.read(CFC, 4));
    }

    @Test
    void configAddressKeepsOnlyItsDefinedBits() {
        bridge.write(CF8, 4, 0xFFFF_FFFF);
        assertEquals(0x80FF_FFFC, bridge.read(CF8, 4));
        bridge.write(CF8, 2, 0x1234); // not a CONFIG_ADDRESS access
        assertEquals(0x80FF_FFFC, bridge.read(CF8, 4));
    }

    @Test
    void barSizingFindsTheSizeAndTypeOfEachKind() {
        PciConfigSpace space = new PciConfigSpace(0x1AF4, 0x1042, 0x01, 0x00, 0x00, 1);
        space.declareMemoryBar(0, 0x4000);
        space.declareBar(new PciBar(1, PciBar.Kind.IO, 32, false));
        space.declareBar(new PciBar(2, PciBar.Kind.MEMORY64, 1 << 20, true));
        bus.attach(3, deviceOn(space));

        int[] expected = {0xFFFF_C000, 0xFFFF_FFE1, 0xFFF0_000C, 0xFFFF_FFFF};
        for (int bar = 0; bar < 4; bar++) {
            int reg = 0x10 + 4 * bar;
            int original = conf1Read(0, 3, 0, reg, 4);
            conf1Write(3, reg, 4, 0xFFFF_FFFF);
            assertEquals(expected[bar], conf1Read(0, 3, 0, reg, 4), "BAR%d size mask".formatted(bar));
            conf1Write(3, reg, 4, original);
        }
        assertEquals(0x0000_000C, conf1Read(0, 3, 0, 0x18, 4), "64-bit prefetchable, address restored");

        conf1Write(3, 0x10, 4, 0xFEBF_1234);
        conf1Write(3, 0x18, 4, 0x0010_0000);
        conf1Write(3, 0x1C, 4, 0x0000_0001);
        conf1Write(3, 0x14, 4, 0xC040);
        assertEquals(0xFEBF_0000L, space.barAddress(0), "low bits below the size stay 0");
        assertEquals(0xC040L, space.barAddress(1));
        assertEquals(0x1_0010_0000L, space.barAddress(2));
        assertEquals(3, bus.device(0, 3, 0).bars().size());
        assertThrows(IllegalArgumentException.class, () -> space.declareMemoryBar(3, 0x1000), "BAR 3 is BAR 2's upper half");
    }

    @Test
    void readOnlyRegistersStayReadOnly() {
        conf1Write(0, 0x00, 4, 0);
        conf1Write(0, 0x08, 4, 0);
        conf1Write(0, 0x0C, 4, 0xFFFF_FFFF);
        conf1Write(0, 0x3C, 2, 0xFFFF);
        assertEquals(0x1237_8086, conf1Read(0, 0, 0, 0x00, 4), "IDs");
        assertEquals(0x0600_0002, conf1Read(0, 0, 0, 0x08, 4), "class and revision");
        assertEquals(0x00, conf1Read(0, 0, 0, 0x0E, 1), "header type");
        assertEquals(0x00FF, conf1Read(0, 0, 0, 0x3C, 2), "interrupt line is scratch, the pin is read-only");
        conf1Write(0, 0x04, 2, 0xFFFF);
        assertEquals(0x0407, conf1Read(0, 0, 0, 0x04, 2), "only I/O, memory, bus master and INTx disable stick");
    }

    @Test
    void capabilitiesFormALinkedList() {
        PciConfigSpace space = new PciConfigSpace(0x1AF4, 0x1041, 0x02, 0x00, 0x00, 1);
        int first = space.addCapability(0x09, new byte[] {14, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        int second = space.addCapability(0x11, new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        assertEquals(0x40, first);
        assertEquals(0x50, second, "dword aligned after the first");
        assertEquals(0x10, space.read(0x06, 2) & 0x10, "status: capability list");
        assertEquals(first, space.read(0x34, 1));
        assertEquals(second, space.read(first + 1, 1));
        assertEquals(0, space.read(second + 1, 1), "end of list");
        assertEquals(0x11, space.read(second, 1));
    }

    @Test
    void slotsPlugAndUnplugWhileRunning() {
        PciConfigSpace space = new PciConfigSpace(0x1AF4, 0x1044, 0xFF, 0x00, 0x00, 1);
        int slot = bus.freeSlot();
        assertEquals(1, slot, "slot 0 is the host bridge");
        PciDevice device = deviceOn(space);
        bus.attach(slot, device);
        assertEquals(0x1044_1AF4, conf1Read(0, slot, 0, 0, 4));
        assertThrows(IllegalStateException.class, () -> bus.attach(slot, device));
        assertThrows(IllegalArgumentException.class, () -> bus.attach(32, device));
        assertSame(device, bus.detach(slot));
        assertEquals(0xFFFF_FFFF, conf1Read(0, slot, 0, 0, 4), "unplugged");
    }

    @Test
    void resetControlAtCf9ResetsOnTheStartBit() {
        bridge.write(CF9, 1, 0x02); // Linux: request a hard reset...
        assertEquals(0, resets.get());
        assertEquals(0x02, bridge.read(CF9, 1));
        bridge.write(CF9, 1, 0x06); // ...then start it
        assertEquals(1, resets.get());
        assertEquals(0x02, bridge.read(CF9, 1), "the start bit clears itself");
    }

    @Test
    void ecamReachesTheSameFunctions() {
        PciEcam ecam = new PciEcam(bus);
        assertEquals(0x1237_8086L, ecam.read(0, 4));
        assertEquals(0x06L, ecam.read(0x0B, 1));
        assertEquals(0xFFFF_FFFFL, ecam.read(5 << 15, 4), "absent slot");
        assertEquals(0xFFFF_FFFFL, ecam.read(0x100, 4), "no extended config space");
        assertEquals(0xFFFFL, ecam.read(0x3, 2), "unaligned");
        assertEquals(-1L, ecam.read(0, 8));
        ecam.write(0x3C, 1, 0x0B);
        assertEquals(0x0B, conf1Read(0, 0, 0, 0x3C, 1));
        assertEquals(256L << 20, PciEcam.sizeForBuses(256));
    }

    @Test
    void hostileAccessesNeitherThrowNorCorrupt() {
        int[] sizes = {0, 1, 2, 3, 4, 8, -1};
        for (int offset = -2; offset < 12; offset++) {
            for (int size : sizes) {
                bridge.write(CF8, 4, 0x8000_00FC);
                bridge.write(offset, size, 0xFFFF_FFFF);
                bridge.read(offset, size);
            }
        }
        bridge.write(CF8, 4, 0x8000_00FC);
        assertEquals(-1, bridge.read(CFC + 3, 4), "register 0xFF plus 4 bytes is outside config space");
        PciEcam ecam = new PciEcam(bus);
        for (long offset : new long[] {-1, 0xFFF, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE}) {
            for (int size : sizes) {
                ecam.write(offset, size, -1);
                ecam.read(offset, size);
            }
        }
        PciConfigSpace space = new PciConfigSpace(1, 2, 3, 4, 5, 6);
        assertEquals(-1, space.read(255, 2));
        assertEquals(-1, space.read(0, 3));
        space.write(-4, 4, 0);
        assertEquals(0x0002_0001, space.read(0, 4));
        assertEquals(0x1237_8086, conf1Read(0, 0, 0, 0x00, 4), "the bridge is unharmed");
        assertEquals(1, resets.get(), "of all that, only the byte 0xFF to 0xCF9 asked for a reset");
    }

    @Test
    void resetClearsConfigAddressResetControlAndTheBridgeCommandRegister() {
        conf1Write(0, PciConfigSpace.COMMAND, 2, 0x7);
        bridge.write(CF9, 1, 0x02);
        bridge.write(CF8, 4, 0x8000_0000 | (3 << 11));

        bridge.reset();

        assertEquals(0, bridge.read(CF8, 4));
        assertEquals(0, bridge.read(CF9, 1));
        assertEquals(0, conf1Read(0, 0, 0, PciConfigSpace.COMMAND, 2));
        assertEquals(0, resets.get());
    }
}
