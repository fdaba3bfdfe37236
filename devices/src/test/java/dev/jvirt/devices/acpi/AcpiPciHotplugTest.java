package dev.jvirt.devices.acpi;

import dev.jvirt.devices.bus.PortIoDevice;
import dev.jvirt.devices.pci.PciHotplugController;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller wired to the GPE block as the machine does it, driven in the order Linux's
 * ACPICA handles an edge GPE: SCI, read status and enable, clear the status, run _E01 (PCNT
 * reading PCIU and PCID), and later _EJ0 writing the eject register.
 */
class AcpiPciHotplugTest {

    private final List<Boolean> sci = new ArrayList<>();
    private final List<Integer> ejected = new ArrayList<>();
    private final AcpiPmDevice pm = new AcpiPmDevice(sci::add, state -> { });
    private final PortIoDevice gpe = pm.gpe0Block();
    private final PciHotplugController controller = new PciHotplugController(PciHotplugController.ALL_SLOTS_BUT_HOST_BRIDGE,
            () -> pm.raiseGpe(PciHotplugController.GPE_EVENT), ejected::add);

    private boolean sciAsserted() {
        return !sci.isEmpty() && sci.getLast();
    }

    /** ACPICA's SCI handler for GPE 1 (edge): clear before running the method, which reads the bitmaps. */
    private int[] handleGpe() {
        int pending = gpe.read(0, 1) & gpe.read(2, 1) & 0xFF;
        assertEquals(1 << PciHotplugController.GPE_EVENT, pending, "GPE 1 is the pending, enabled event");
        gpe.write(0, 1, pending);
        return new int[] {controller.read(PciHotplugController.UP_OFFSET, 4), controller.read(PciHotplugController.DOWN_OFFSET, 4)};
    }

    @Test
    void deviceAddAndDeviceDelReachTheGuestThroughGpe1() {
        gpe.write(2, 1, 1 << PciHotplugController.GPE_EVENT);        // ACPICA enables GPEs that have _Exx methods
        assertTrue(sci.isEmpty());

        controller.plugged(6);
        assertTrue(sciAsserted(), "device_add raises the SCI");
        int[] events = handleGpe();
        assertEquals(1 << 6, events[0], "PCNT sends Device Check to S06");
        assertEquals(0, events[1]);
        assertTrue(!sciAsserted(), "the SCI drops once the status is cleared");

        controller.unplugRequested(6);
        assertTrue(sciAsserted(), "device_del raises the SCI");
        events = handleGpe();
        assertEquals(0, events[0], "the plug was already delivered");
        assertEquals(1 << 6, events[1], "PCNT sends Eject Request to S06");
        assertTrue(ejected.isEmpty(), "nothing leaves until the guest ejects");

        controller.write(PciHotplugController.EJECT_OFFSET, 4, 1 << 6);   // S06._EJ0 -> PCEJ(6)
        assertEquals(List.of(6), ejected);
        assertEquals(0, controller.read(PciHotplugController.DOWN_OFFSET, 4));
        assertEquals(List.of(true, false, true, false), sci);
    }

    @Test
    void anEventWhileTheGpeIsDisabledWaitsForTheEnable() {
        controller.plugged(3);
        assertTrue(sci.isEmpty(), "ACPICA has not enabled GPE 1 yet");
        gpe.write(2, 1, 1 << PciHotplugController.GPE_EVENT);
        assertTrue(sciAsserted());
        assertEquals(1 << 3, handleGpe()[0]);
    }
}
