package dev.jvirt.vmm.machine;

import dev.jvirt.block.CacheMode;
import dev.jvirt.devices.pci.MsiVectorAllocator;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.blk.DiscardMode;
import dev.jvirt.virtio.blk.VirtioBlock;
import dev.jvirt.virtio.blk.VirtioBlockOptions;
import dev.jvirt.virtio.pci.NotifyRouter;
import dev.jvirt.virtio.pci.VirtioPciDevice;
import dev.jvirt.virtio.rng.VirtioRng;
import dev.jvirt.virtio.balloon.VirtioBalloon;
import dev.jvirt.virtio.console.VirtioConsole;
import dev.jvirt.virtio.net.VirtioNet;
import dev.jvirt.virtio.net.VirtioNetOptions;
import dev.jvirt.net.MacAddress;
import dev.jvirt.net.Tap;
import dev.jvirt.vmm.cli.DeviceSpec;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the command line's {@link DeviceSpec}s into virtio PCI functions on the machine's bus:
 * opens each back end (image, tap, console), wraps the device in the virtio-pci transport with
 * MSI-X through KVM, and plugs it in. Back ends that fail to open fail the whole build with a
 * message naming the device, before any vCPU runs.
 */
final class VirtioDevices implements AutoCloseable {

    /** A plugged device and how to stop it: reset the transport (joins device threads), then close its back end. */
    private record Plugged(PluggedDevice device, AutoCloseable backend) {
    }

    private final Platform platform;
    private final GuestMemory memory;
    private final MsiVectorAllocator vectors;
    private final NotifyRouter router;
    private final List<Plugged> plugged = new ArrayList<>();
    private volatile VirtioConsole stdioConsole;

    VirtioDevices(Platform platform, GuestMemory memory, MsiVectorAllocator vectors, NotifyRouter router) {
        this.platform = platform;
        this.memory = memory;
        this.vectors = vectors;
        this.router = router;
    }

    /** Creates and plugs every device the command line asked for, in order. */
    void plugAll(List<DeviceSpec> specs) throws IOException {
        for (DeviceSpec spec : specs) {
            plug(spec);
        }
    }

    PluggedDevice plug(DeviceSpec spec) throws IOException {
        int slot = platform.reserveSlot(spec.slot());
        Backend backend = open(spec);
        VirtioPciDevice pci = new VirtioPciDevice(backend.device(), memory, vectors, router, platform.pciInterruptLine(slot));
        platform.plugPci(slot, pci);
        PluggedDevice device = new PluggedDevice(backend.id(), slot, backend.driver(), pci, backend.device());
        synchronized (this) {
            plugged.add(new Plugged(device, backend.closer()));
        }
        return device;
    }

    private record Backend(String id, String driver, VirtioDevice device, AutoCloseable closer) {
    }

    /** device_add: plugs into the running machine and signals the guest; BARs are the guest's to place. */
    PluggedDevice hotplug(DeviceSpec spec) throws IOException {
        String id = idOf(spec);
        synchronized (this) {
            if (find(id) != null) {
                throw new IOException("Duplicate device ID '" + id + "'");
            }
        }
        int slot = platform.reserveSlot(spec.slot());
        Backend backend = open(spec);
        VirtioPciDevice pci = new VirtioPciDevice(backend.device(), memory, vectors, router, platform.pciInterruptLine(slot));
        PluggedDevice device = new PluggedDevice(backend.id(), slot, backend.driver(), pci, backend.device());
        synchronized (this) {
            plugged.add(new Plugged(device, backend.closer()));
        }
        platform.hotplugPci(slot, pci);
        return device;
    }

    /** device_del: asks the guest to let go of {@code id}; it goes when the guest ejects the slot. */
    void requestUnplug(String id) throws IOException {
        PluggedDevice device;
        synchronized (this) {
            Plugged found = find(id);
            if (found == null) {
                throw new IOException("Device '" + id + "' not found");
            }
            device = found.device();
        }
        platform.requestUnplug(device.slot());
    }

    /** The guest ejected {@code slot}: the device leaves the bus and stops. Returns its id, or null for an empty slot. */
    String ejected(int slot) {
        Plugged gone = null;
        synchronized (this) {
            for (Plugged candidate : plugged) {
                if (candidate.device().slot() == slot) {
                    gone = candidate;
                }
            }
            if (gone == null) {
                return null;
            }
            plugged.remove(gone);
        }
        platform.pciBus().detach(slot);
        try {
            gone.device().pci().reset();
            gone.backend().close();
        } catch (Exception e) {
            System.err.println("jvirt-vmm: closing " + gone.device().id() + ": " + e.getMessage());
        }
        return gone.device().id();
    }

    private Plugged find(String id) {
        for (Plugged candidate : plugged) {
            if (candidate.device().id().equals(id)) {
                return candidate;
            }
        }
        return null;
    }

    private static String idOf(DeviceSpec spec) {
        return switch (spec) {
            case DeviceSpec.Block block -> block.id();
            case DeviceSpec.Net net -> net.id();
            case DeviceSpec.Rng rng -> rng.id();
            case DeviceSpec.Balloon balloon -> balloon.id();
            case DeviceSpec.Console console -> console.id();
        };
    }

    private Backend open(DeviceSpec spec) throws IOException {
        return switch (spec) {
            case DeviceSpec.Block block -> {
                VirtioBlockOptions options = VirtioBlockOptions.of(block.file())
                        .withFormat(block.format())
                        .withReadOnly(block.readOnly())
                        .withCache(CacheMode.parse(block.cache()))
                        .withSerial(block.serial())
                        .withDiscard(block.discard() ? DiscardMode.UNMAP : DiscardMode.IGNORE)
                        .withQueues(block.queues());
                VirtioBlock device;
                try {
                    device = VirtioBlock.open(options);
                } catch (IOException e) {
                    throw new IOException("drive '" + block.id() + "': " + e.getMessage(), e);
                }
                yield new Backend(block.id(), "virtio-blk-pci", device, device);
            }
            case DeviceSpec.Rng rng -> new Backend(rng.id(), "virtio-rng-pci", new VirtioRng(), () -> { });
            case DeviceSpec.Net net -> openNet(net);
            case DeviceSpec.Balloon balloon -> new Backend(balloon.id(), "virtio-balloon-pci", new VirtioBalloon(memory.ramSize()), () -> { });
            case DeviceSpec.Console console -> openConsole(console);
        };
    }

    /** The tap is brought up (and put on its bridge) here, as QEMU's script= would; script=no taps come up too. */
    private static Backend openNet(DeviceSpec.Net net) throws IOException {
        Tap tap;
        try {
            tap = Tap.open(net.ifname());
        } catch (IOException e) {
            throw new IOException("netdev '" + net.id() + "': " + e.getMessage(), e);
        }
        try {
            tap.setUp(true);
            if (net.bridge() != null) {
                tap.attachToBridge(net.bridge());
            }
            MacAddress mac = net.mac() == null ? MacAddress.random() : MacAddress.parse(net.mac());
            VirtioNet device = new VirtioNet(tap, VirtioNetOptions.of(mac));
            return new Backend(net.id(), "virtio-net-pci", device, tap::close);
        } catch (IOException | RuntimeException e) {
            tap.close();
            throw new IOException("netdev '" + net.id() + "' (tap " + tap.name() + "): " + e.getMessage(), e);
        }
    }

    private Backend openConsole(DeviceSpec.Console console) throws IOException {
        OutputStream output = switch (console.backend()) {
            case STDIO -> System.out;
            case FILE -> new FileOutputStream(console.path().toFile());
            case NULL -> OutputStream.nullOutputStream();
        };
        VirtioConsole device = new VirtioConsole(output);
        if (console.backend() == DeviceSpec.ConsoleBackend.STDIO) {
            stdioConsole = device;
        }
        return new Backend(console.id(), "virtconsole", device, console.backend() == DeviceSpec.ConsoleBackend.FILE ? output::close : () -> { });
    }

    /**
     * System reset of every function: as if each driver wrote status 0 (queues stopped, device
     * threads joined, features to renegotiate), plus MSI-X disabled with its vectors and routes
     * released and config space as built. Back ends stay open: the disk, tap and console are
     * the host's. The platform's firmware step then assigns the BARs again.
     */
    synchronized void reset() {
        for (Plugged device : plugged) {
            device.device().pci().reset();
        }
    }

    /** The virtconsole whose chardev is stdio, if any: host input goes there instead of the UART. */
    VirtioConsole stdioConsole() {
        return stdioConsole;
    }

    synchronized List<PluggedDevice> plugged() {
        return plugged.stream().map(Plugged::device).toList();
    }

    /** Stops every device and closes its back end (disks flush here), reporting failures on stderr. */
    @Override
    public synchronized void close() {
        for (Plugged plugged : plugged) {
            try {
                plugged.device().pci().reset();
                plugged.backend().close();
            } catch (Exception e) {
                System.err.println("jvirt-vmm: closing " + plugged.device().id() + ": " + e.getMessage());
            }
        }
        plugged.clear();
    }
}
