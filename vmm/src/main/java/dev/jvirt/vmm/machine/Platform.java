package dev.jvirt.vmm.machine;

import dev.jvirt.devices.acpi.AcpiConfig;
import dev.jvirt.devices.acpi.AcpiPmDevice;
import dev.jvirt.devices.acpi.AcpiTable;
import dev.jvirt.devices.acpi.AcpiTables;
import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.bus.MmioBus;
import dev.jvirt.devices.bus.PortIoBus;
import dev.jvirt.devices.i8042.I8042;
import dev.jvirt.devices.pci.PciBus;
import dev.jvirt.devices.pci.PciConfigSpace;
import dev.jvirt.devices.pci.PciDevice;
import dev.jvirt.devices.pci.PciHotplugController;
import dev.jvirt.devices.pci.PciHostBridge;
import dev.jvirt.devices.rtc.CmosRtc;
import dev.jvirt.devices.serial.Serial16550;
import dev.jvirt.kvm.KvmException;
import dev.jvirt.kvm.Vm;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.vmm.boot.BootLayout;

import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The PC platform around the vCPUs: which device sits at which port and IRQ, and the ACPI tables
 * that tell the guest so. The one place that knows the machine's wiring:
 * COM1 0x3F8/IRQ 4, i8042 0x60/0x64 (IRQ 1/12), CMOS RTC 0x70/IRQ 8, PCI config 0xCF8 (reset 0xCF9),
 * ACPI PM 0x600/SCI 9, GPE0 0x620, PCI hot-plug 0xAE00, PCI INTx on GSI 16-23, MMIO window 0xC0000000-0xFEBFFFFF.
 */
public final class Platform {

    public static final int ACPI_PM_BASE = 0x600;
    public static final int SCI_GSI = 9;
    /** GPE0 (status, enable): clear of the PM block at 0x600 and of QEMU's hot-plug ports at 0xAE00. */
    public static final int GPE0_BASE = 0x620;
    public static final long IOAPIC_ADDRESS = 0xFEC0_0000L;
    /** The 32-bit PCI MMIO window: from the end of low RAM's hole up to just below the IOAPIC. */
    public static final long PCI_MMIO_START = GuestMemory.MMIO_HOLE_START;
    public static final long PCI_MMIO_END = 0xFEBF_FFFFL;

    private final Serial16550 serial;
    private final I8042 i8042;
    private final CmosRtc rtc;
    private final PciHostBridge hostBridge;
    private final AcpiPmDevice acpi;
    private final PciBus pciBus;
    private final GuestMemory memory;
    private final List<AcpiTable> acpiTables;
    /** Replaced at each reset: firmware hands out the window from its start again. */
    private PciFirmware pciFirmware = new PciFirmware(PCI_MMIO_START, PCI_MMIO_END);
    private final SharedInterruptLines pciInterrupts;
    private final long rsdpAddress;
    private volatile Runnable poweroff = () -> { };
    private volatile Runnable reset = () -> { };
    private final PciHotplugController hotplug;
    private volatile java.util.function.IntConsumer slotEjected = slot -> { };

    private Platform(Vm vm, GuestMemory memory, Serial16550 serial, I8042 i8042, CmosRtc rtc, PciHostBridge hostBridge,
                     AcpiPmDevice acpi, PciBus pciBus, PciHotplugController hotplug, List<AcpiTable> acpiTables, long rsdpAddress) {
        this.hotplug = hotplug;
        this.memory = memory;
        this.serial = serial;
        this.i8042 = i8042;
        this.rtc = rtc;
        this.hostBridge = hostBridge;
        this.acpiTables = acpiTables;
        this.acpi = acpi;
        this.pciBus = pciBus;
        this.pciInterrupts = new SharedInterruptLines(gsi -> gsi(vm, gsi));
        this.rsdpAddress = rsdpAddress;
    }

    static Platform install(Vm vm, GuestMemory memory, PortIoBus ports, MmioBus mmio, int cpus, OutputStream console) {
        Runnable[] hooks = new Runnable[2]; // filled once the Platform exists: devices call back into it
        PciHotplugController.EjectListener[] ejected = new PciHotplugController.EjectListener[1];
        Serial16550 serial = new Serial16550(gsi(vm, Serial16550.COM1_IRQ), console);
        ports.register(Serial16550.COM1_BASE, Serial16550.REGISTER_COUNT, serial);

        I8042 i8042 = new I8042(() -> hooks[1].run(), gsi(vm, 1), gsi(vm, 12));
        ports.register(I8042.DATA_PORT, 1, i8042.dataPort());
        ports.register(I8042.COMMAND_PORT, 1, i8042.commandPort());

        CmosRtc rtc = new CmosRtc();
        long highRam = memory.regions().size() > 1 ? memory.regions().get(1).size() : 0;
        rtc.setMemorySize(memory.lowRamEnd(), highRam);
        ports.register(CmosRtc.BASE, 2, rtc);

        PciBus pciBus = new PciBus();
        PciHostBridge hostBridge = new PciHostBridge(pciBus, () -> hooks[1].run());
        ports.register(PciHostBridge.BASE, PciHostBridge.PORT_COUNT, hostBridge);
        mmio.register(PCI_MMIO_START, PCI_MMIO_END - PCI_MMIO_START + 1, new PciMmioWindow(pciBus, PCI_MMIO_START));

        AcpiPmDevice acpi = new AcpiPmDevice(gsi(vm, SCI_GSI), state -> hooks[0].run());
        ports.register(ACPI_PM_BASE, AcpiPmDevice.REGISTER_BLOCK_SIZE, acpi);
        ports.register(GPE0_BASE, AcpiPmDevice.GPE0_BLOCK_SIZE, acpi.gpe0Block());
        PciHotplugController hotplug = new PciHotplugController(PciHotplugController.ALL_SLOTS_BUT_HOST_BRIDGE,
                () -> acpi.raiseGpe(PciHotplugController.GPE_EVENT), slot -> ejected[0].slotEjected(slot));
        ports.register(PciHotplugController.BASE, PciHotplugController.PORT_COUNT, hotplug);

        List<Integer> apicIds = new ArrayList<>();
        for (int cpu = 0; cpu < cpus; cpu++) {
            apicIds.add(cpu);
        }
        AcpiConfig config = new AcpiConfig(apicIds, 0, IOAPIC_ADDRESS, ACPI_PM_BASE, SCI_GSI,
                PCI_MMIO_START, PCI_MMIO_END, BootLayout.ACPI_AREA, BootLayout.ACPI_AREA + 0x1000)
                .withPciHotplug(GPE0_BASE, PciHotplugController.BASE, PciHotplugController.ALL_SLOTS_BUT_HOST_BRIDGE);
        List<AcpiTable> tables = AcpiTables.build(config);
        for (AcpiTable table : tables) {
            memory.write(table.address(), table.bytes());
        }

        Platform platform = new Platform(vm, memory, serial, i8042, rtc, hostBridge, acpi, pciBus, hotplug, tables,
                config.rsdpAddress());
        ejected[0] = slot -> platform.slotEjected.accept(slot);
        hooks[0] = () -> platform.poweroff.run();
        hooks[1] = () -> platform.reset.run();
        return platform;
    }

    /** An interrupt line of the in-kernel irqchip, as devices see it. */
    static InterruptLine gsi(Vm vm, int gsi) {
        return asserted -> {
            try {
                vm.setIrqLine(gsi, asserted);
            } catch (KvmException e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        };
    }

    long rsdpAddress() {
        return rsdpAddress;
    }

    public PciBus pciBus() {
        return pciBus;
    }

    /** The slot a new PCI function goes to: {@code requested} if free (1-31), or the first free one when -1. */
    synchronized int reserveSlot(int requested) {
        int slot = requested >= 0 ? requested : pciBus.freeSlot();
        if (slot < 0) {
            throw new IllegalStateException("no free PCI slot left (31 devices at most)");
        }
        if (pciBus.device(0, slot, 0) != null) {
            throw new IllegalStateException("PCI slot " + slot + " is already in use");
        }
        return slot;
    }

    /** The INTA# line of {@code slot}, wired as the DSDT's _PRT says and shared with other slots. */
    InterruptLine pciInterruptLine(int slot) {
        return pciInterrupts.source(AcpiTables.pciInterruptGsi(slot, 0));
    }

    /**
     * Hot-plugs {@code device} into {@code slot} of the running machine and tells the guest
     * (ACPI GPE). Its BARs are left for the guest to assign from the bridge window, as after a
     * real hot-plug.
     */
    synchronized void hotplugPci(int slot, PciDevice device) {
        device.writeConfig(PciConfigSpace.INTERRUPT_LINE, 1, AcpiTables.pciInterruptGsi(slot, 0));
        pciBus.attach(slot, device);
        hotplug.plugged(slot);
    }

    /** Asks the guest to release {@code slot}; the device stays until the guest ejects it. */
    void requestUnplug(int slot) {
        hotplug.unplugRequested(slot);
    }

    /** Called on a vCPU thread when the guest ejects a slot (after device_del, or on its own). */
    void onSlotEjected(java.util.function.IntConsumer action) {
        slotEjected = action;
    }

    /** Plugs {@code device} into {@code slot} with its BARs assigned, as firmware leaves a device at boot. */
    synchronized void plugPci(int slot, PciDevice device) {
        pciFirmware.assign(device);
        device.writeConfig(PciConfigSpace.INTERRUPT_LINE, 1, AcpiTables.pciInterruptGsi(slot, 0));
        pciBus.attach(slot, device);
    }

    /**
     * System reset, first step: unplugs the host requested and the old guest never acknowledged
     * complete now (the slots are ejected, through {@link #onSlotEjected}), so the new guest
     * never meets a device on its way out.
     */
    void completePendingUnplugs() {
        hotplug.reset();
    }

    /**
     * System reset of the platform, with the vCPUs stopped and the virtio functions already reset:
     * the legacy devices and ACPI registers to power-on, PCI set up as firmware leaves it at boot
     * (every function in {@code present}, in that order, gets its BARs from the start of the
     * window, memory decoding and its interrupt line, as at build), and the ACPI tables rewritten,
     * since the old guest may have written over that RAM.
     */
    synchronized void reset(List<PluggedDevice> present) {
        serial.reset();
        i8042.reset();
        rtc.reset();
        acpi.reset();
        hostBridge.reset();
        pciFirmware = new PciFirmware(PCI_MMIO_START, PCI_MMIO_END);
        for (PluggedDevice device : present) {
            pciFirmware.assign(device.pci());
            device.pci().writeConfig(PciConfigSpace.INTERRUPT_LINE, 1, AcpiTables.pciInterruptGsi(device.slot(), 0));
        }
        for (AcpiTable table : acpiTables) {
            memory.write(table.address(), table.bytes());
        }
    }

    void onPoweroff(Runnable action) {
        poweroff = action;
    }

    void onReset(Runnable action) {
        reset = action;
    }

    void pressPowerButton() {
        acpi.pressPowerButton();
    }

    /** One byte typed on the console; waits while the UART's receive FIFO is full, so nothing is lost. */
    public boolean sendConsoleInput(int b) {
        try {
            serial.enqueueInputFully(new byte[] {(byte) b}, 0, 1);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
