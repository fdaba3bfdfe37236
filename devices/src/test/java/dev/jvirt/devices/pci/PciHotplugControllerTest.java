package dev.jvirt.devices.pci;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.jvirt.devices.pci.PciHotplugController.DOWN_OFFSET;
import static dev.jvirt.devices.pci.PciHotplugController.EJECT_OFFSET;
import static dev.jvirt.devices.pci.PciHotplugController.REMOVABLE_OFFSET;
import static dev.jvirt.devices.pci.PciHotplugController.SELECT_OFFSET;
import static dev.jvirt.devices.pci.PciHotplugController.UP_OFFSET;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Drives the controller as the DSDT's PCNT and _EJ0 do: 4-byte reads of PCIU/PCID, 4-byte writes of B0EJ. */
class PciHotplugControllerTest {

    private int gpes;
    private final List<Integer> ejected = new ArrayList<>();
    private final PciHotplugController controller = new PciHotplugController(
            PciHotplugController.ALL_SLOTS_BUT_HOST_BRIDGE, () -> gpes++, ejected::add);

    @Test
    void plugIsReportedOnceThroughUpAndRaisesTheGpe() {
        controller.plugged(5);
        controller.plugged(31);
        assertEquals(2, gpes, "each event raises the GPE");
        assertEquals((1 << 5) | (1 << 31), controller.read(UP_OFFSET, 4));
        assertEquals(0, controller.read(UP_OFFSET, 4), "PCNT's read consumed the events");
        assertEquals(0, controller.read(DOWN_OFFSET, 4));
        assertTrue(ejected.isEmpty());
    }

    @Test
    void aByteReadOfUpConsumesOnlyThatByte() {
        controller.plugged(1);
        controller.plugged(9);
        assertEquals(0x02, controller.read(UP_OFFSET, 1) & 0xFF);
        assertEquals(0x02, controller.read(UP_OFFSET + 1, 1) & 0xFF, "slot 9 still pending after byte 0 was read");
        assertEquals(0, controller.read(UP_OFFSET, 4));
    }

    @Test
    void unplugRequestStaysUntilTheGuestEjectsAndTheMachineIsCalledBack() {
        controller.unplugRequested(3);
        assertEquals(1, gpes);
        assertTrue(controller.unplugPending(3));
        assertEquals(1 << 3, controller.read(DOWN_OFFSET, 4));
        assertEquals(1 << 3, controller.read(DOWN_OFFSET, 4), "DOWN is not cleared by reading: re-notified on every GPE");
        controller.write(EJECT_OFFSET, 4, 1 << 3);        // _EJ0 of S03
        assertEquals(List.of(3), ejected);
        assertEquals(0, controller.read(DOWN_OFFSET, 4));
        assertFalse(controller.unplugPending(3));
    }

    @Test
    void ejectWithoutARequestStillReachesTheMachineAndClearsPendingEvents() {
        // A guest may power a slot off on its own (echo 0 > /sys/bus/pci/slots/7/power), as on QEMU.
        controller.plugged(7);
        controller.write(EJECT_OFFSET, 4, (1 << 7) | (1 << 12));
        assertEquals(List.of(7, 12), ejected);
        assertEquals(0, controller.read(UP_OFFSET, 4), "a device ejected before PCNT ran is not announced");
    }

    @Test
    void theHostBridgeAndNonHotpluggableSlotsCannotBeEjectedOrPlugged() {
        PciHotplugController someSlots = new PciHotplugController((1 << 4) | (1 << 6), () -> gpes++, ejected::add);
        someSlots.write(EJECT_OFFSET, 4, 0xFFFF_FFFF);
        assertEquals(List.of(4, 6), ejected);
        assertEquals((1 << 4) | (1 << 6), someSlots.read(REMOVABLE_OFFSET, 4));
        assertThrows(IllegalArgumentException.class, () -> someSlots.plugged(5));
        assertThrows(IllegalArgumentException.class, () -> controller.plugged(0));
        assertThrows(IllegalArgumentException.class, () -> controller.unplugRequested(32));
        assertThrows(IllegalArgumentException.class, () -> controller.unplugRequested(-1));
        assertEquals(0, gpes, "a refused event signals nothing");
        controller.write(EJECT_OFFSET, 4, 1);
        assertEquals(List.of(4, 6), ejected, "slot 0 (host bridge) is never ejected");
    }

    @Test
    void statusRegistersAreReadOnlyAndEjectReadsAsNoFeatures() {
        controller.plugged(2);
        controller.unplugRequested(8);
        controller.write(UP_OFFSET, 4, 0);
        controller.write(DOWN_OFFSET, 4, 0);
        controller.write(REMOVABLE_OFFSET, 4, 0);
        assertEquals(0, controller.read(EJECT_OFFSET, 4));
        assertEquals(PciHotplugController.ALL_SLOTS_BUT_HOST_BRIDGE, controller.read(REMOVABLE_OFFSET, 4));
        assertEquals(1 << 8, controller.read(DOWN_OFFSET, 4));
        assertEquals(1 << 2, controller.read(UP_OFFSET, 4));
    }

    @Test
    void onlyBusZeroExists() {
        controller.plugged(2);
        controller.unplugRequested(8);
        controller.write(SELECT_OFFSET, 4, 1);
        assertEquals(1, controller.read(SELECT_OFFSET, 4));
        assertEquals(0, controller.read(UP_OFFSET, 4), "bus 1 has no events");
        assertEquals(0, controller.read(DOWN_OFFSET, 4));
        assertEquals(0, controller.read(REMOVABLE_OFFSET, 4));
        controller.write(EJECT_OFFSET, 4, 1 << 8);
        assertTrue(ejected.isEmpty(), "an eject on bus 1 does not touch bus 0's slot 8");
        controller.write(SELECT_OFFSET, 4, 0);
        assertEquals(1 << 2, controller.read(UP_OFFSET, 4), "bus 0's events kept while another bus was selected");
        assertEquals(1 << 8, controller.read(DOWN_OFFSET, 4));
    }

    @Test
    void hostileAccessesNeverThrowAndEjectOnlyHotpluggableSlots() {
        for (int offset = -4; offset < PciHotplugController.PORT_COUNT + 4; offset++) {
            for (int size : new int[] {1, 2, 3, 4, 0, -1}) {
                controller.read(offset, size);
                controller.write(offset, size, 0xFFFF_FFFF);
            }
        }
        assertFalse(ejected.contains(0));
        assertTrue(ejected.stream().allMatch(slot -> slot > 0 && slot < PciBus.SLOTS), ejected.toString());
        assertEquals(0, gpes, "guest accesses never raise events");
    }

    @Test
    void resetForgetsEventsAndCompletesPendingUnplugs() {
        controller.plugged(4);
        controller.unplugRequested(6);
        controller.write(SELECT_OFFSET, 4, 1);

        controller.reset();

        assertEquals(List.of(6), ejected, "the unplug the old guest never acknowledged completes");
        assertEquals(0, controller.read(SELECT_OFFSET, 4));
        assertEquals(0, controller.read(UP_OFFSET, 4));
        assertEquals(0, controller.read(DOWN_OFFSET, 4));
        assertFalse(controller.unplugPending(6));
    }
}
