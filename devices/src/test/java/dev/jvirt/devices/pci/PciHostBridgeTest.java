package dev.jvirt.devices.pci;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PciHostBridgeTest {

    private final PciBus bus = new PciBus();
    private final PciHostBridge bridge = new PciHostBridge(bus);

    private int config(int slot, int register, int size) {
        bridge.write(0, 4, 0x8000_0000 | (slot << 11) | (register & 0xFC));
        return bridge.read(4 + (register & 3), size);
    }

    @Test
    void hostBridgeAnswersAndEmptySlotsReadAllOnes() {
        assertEquals(0x12378086, config(0, 0, 4));
        assertEquals(0x0600, config(0, 0x0A, 2), "class: host bridge");
        assertEquals(-1, config(5, 0, 4));
        bridge.write(0, 4, 0x0000_0000); // enable bit clear
        assertEquals(-1, bridge.read(4, 4));
    }

    @Test
    void barSizingAndReadOnlyRegisters() {
        PciConfigSpace space = new PciConfigSpace(0x1AF4, 0x1042, 0x01, 0x00, 0x00, 1);
        space.declareMemoryBar(0, 0x4000);
        bus.attach(3, new PciDevice() {
            public int readConfig(int offset, int size) {
                return space.read(offset, size);
            }

            public void writeConfig(int offset, int size, int value) {
                space.write(offset, size, value);
            }
        });
        bridge.write(0, 4, 0x8000_0000 | (3 << 11) | 0x10);
        bridge.write(4, 4, 0xFFFF_FFFF);
        assertEquals(0xFFFF_C000, bridge.read(4, 4), "size mask of a 16 KiB BAR");
        bridge.write(0, 4, 0x8000_0000 | (3 << 11));
        bridge.write(4, 4, 0);
        assertEquals(0x10421AF4, bridge.read(4, 4), "IDs are read-only");
        assertThrows(IllegalStateException.class, () -> bus.attach(3, null));
        bus.detach(3);
        assertEquals(-1, config(3, 0, 4), "unplugged");
    }
}
