package dev.jvirt.virtio.pci;

import dev.jvirt.devices.bus.InterruptLine;
import dev.jvirt.devices.pci.MsiVector;
import dev.jvirt.devices.pci.PciConfigSpace;
import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.VirtioDeviceType;
import dev.jvirt.virtio.VirtioException;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.queue.DescriptorChain;
import dev.jvirt.virtio.queue.Virtqueue;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Drives the transport the way Linux's virtio_pci_modern_dev.c and virtio_pci_modern.c do:
 * find the structures through the capability list, size and program the BARs, negotiate,
 * set up queues, DRIVER_OK, kick, and take interrupts by MSI-X or INTx.
 */
class VirtioPciDeviceTest {

    // struct virtio_pci_common_cfg
    private static final int DFSELECT = 0x00, DF = 0x04, GFSELECT = 0x08, GF = 0x0C, MSIX_CONFIG = 0x10;
    private static final int NUM_QUEUES = 0x12, STATUS = 0x14, GENERATION = 0x15, Q_SELECT = 0x16, Q_SIZE = 0x18;
    private static final int Q_MSIX = 0x1A, Q_ENABLE = 0x1C, Q_NOFF = 0x1E, Q_DESCLO = 0x20, Q_DESCHI = 0x24;
    private static final int Q_AVAILLO = 0x28, Q_AVAILHI = 0x2C, Q_USEDLO = 0x30, Q_USEDHI = 0x34;
    private static final int NO_VECTOR = 0xFFFF;
    private static final long DEVICE_FEATURE_A = 1L << 5, DEVICE_FEATURE_B = 1L << 9;

    /** A virtio-blk-shaped device that records what the transport does to it, and completes requests on kick. */
    static final class FakeDevice implements VirtioDevice {
        final int queueCount;
        DeviceContext context;
        final List<Integer> notified = new ArrayList<>();
        int resets;
        boolean refuseActivation;
        long capacity = 0x1_2345_6789L;

        FakeDevice(int queueCount) {
            this.queueCount = queueCount;
        }

        @Override
        public int deviceType() {
            return VirtioDeviceType.BLOCK;
        }

        @Override
        public long deviceFeatures() {
            return DEVICE_FEATURE_A | DEVICE_FEATURE_B | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX)
                    | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC) | VirtioFeatures.bit(34) /* packed: not ours to offer */;
        }

        @Override
        public int queueCount() {
            return queueCount;
        }

        @Override
        public int queueMaxSize(int queue) {
            return 256;
        }

        @Override
        public int configSize() {
            return 8;
        }

        @Override
        public int readConfig(int offset, int size) {
            return (int) (capacity >>> (8 * offset)) & (size == 4 ? -1 : (1 << (8 * size)) - 1);
        }

        @Override
        public void writeConfig(int offset, int size, int value) {
        }

        @Override
        public void activate(DeviceContext context) throws VirtioException {
            if (refuseActivation) {
                throw new VirtioException("refused by test");
            }
            this.context = context;
        }

        @Override
        public void queueNotify(int queue) {
            notified.add(queue);
            Virtqueue vq = context.queues().get(queue);
            try {
                DescriptorChain chain;
                boolean added = false;
                while ((chain = vq.pop()) != null) {
                    vq.addUsed(chain.head(), 0);
                    added = true;
                }
                if (added && vq.needsInterrupt()) {
                    context.interrupts().usedBuffers(queue);
                }
            } catch (VirtioException e) {
                context.needsReset().run();
            }
        }

        @Override
        public void reset() {
            resets++;
            context = null;
        }
    }

    static final class RecordingVector implements MsiVector {
        long address;
        int data;
        int triggers;
        boolean closed;

        @Override
        public void program(long address, int data) {
            this.address = address;
            this.data = data;
        }

        @Override
        public void trigger() {
            triggers++;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    static final class RecordingRoute implements NotifyRouter.Route {
        final long address;
        final int length;
        final Runnable kick;
        boolean closed;

        RecordingRoute(long address, int length, Runnable kick) {
            this.address = address;
            this.length = length;
            this.kick = kick;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private final GuestMemory memory = TestMemory.allocate(1 << 20);
    private final FakeDevice fake = new FakeDevice(2);
    private final List<RecordingVector> vectors = new ArrayList<>();
    private final List<RecordingRoute> routes = new ArrayList<>();
    private final List<Boolean> intxLevels = new ArrayList<>();
    private final InterruptLine intx = intxLevels::add;
    private final VirtioPciDevice pci = new VirtioPciDevice(fake, memory, () -> {
        RecordingVector v = new RecordingVector();
        vectors.add(v);
        return v;
    }, (address, length, kick) -> {
        RecordingRoute route = new RecordingRoute(address, length, kick);
        routes.add(route);
        return route;
    }, intx);

    /** What virtio_pci_find_capability found: BAR and offset for each cfg_type. */
    private record Structure(int bar, int offset, int length, int multiplier) {
    }

    private final Map<Integer, Structure> structures = new HashMap<>();
    private int msixCapability;
    private final long[] barBase = new long[6];

    @AfterEach
    void closeMemory() {
        memory.close();
    }

    private int cfg(int offset, int size) {
        return pci.readConfig(offset, size);
    }

    /** Walks the capability list from 0x34 as pci_find_capability/pci_find_next_capability do (bounded: a loop must end). */
    private void findCapabilities() {
        assertTrue((cfg(PciConfigSpace.STATUS, 2) & PciConfigSpace.STATUS_CAPABILITIES) != 0);
        int at = cfg(PciConfigSpace.CAPABILITIES_POINTER, 1) & ~3;
        for (int ttl = 48; at >= 0x40 && ttl > 0; ttl--) {
            int id = cfg(at, 1);
            if (id == 0x09) {
                int cfgType = cfg(at + 3, 1);
                structures.putIfAbsent(cfgType, new Structure(cfg(at + 4, 1), cfg(at + 8, 4), cfg(at + 12, 4),
                        cfgType == 2 ? cfg(at + 16, 4) : 0));
            } else if (id == 0x11) {
                msixCapability = at;
            }
            at = cfg(at + 1, 1) & ~3;
        }
    }

    /** Firmware's BAR sizing and assignment, then COMMAND memory + bus master as pci_enable_device does. */
    private void assignBarsAndEnable() {
        long next = 0xFE00_0000L;
        for (int bar = 0; bar < 6; bar++) {
            int reg = PciConfigSpace.BAR0 + 4 * bar;
            int original = cfg(reg, 4);
            pci.writeConfig(reg, 4, -1);
            long sizeMask = cfg(reg, 4) & 0xFFFF_FFF0L;
            pci.writeConfig(reg, 4, original);
            if (sizeMask == 0) {
                continue;
            }
            long size = (~sizeMask + 1) & 0xFFFF_FFFFL;
            next = (next + size - 1) / size * size;
            pci.writeConfig(reg, 4, (int) next);
            barBase[bar] = next;
            next += size;
        }
        pci.writeConfig(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
    }

    private void probe() {
        findCapabilities();
        assignBarsAndEnable();
    }

    private long read(int cfgType, int field, int size) {
        Structure s = structures.get(cfgType);
        return pci.readBar(s.bar, s.offset + field, size);
    }

    private void write(int cfgType, int field, int size, long value) {
        Structure s = structures.get(cfgType);
        pci.writeBar(s.bar, s.offset + field, size, value);
    }

    private long common(int field, int size) {
        return read(1, field, size);
    }

    private void common(int field, int size, long value) {
        write(1, field, size, value);
    }

    private void addStatus(int bit) {
        common(STATUS, 1, common(STATUS, 1) | bit);
    }

    private long deviceFeatures() {
        common(DFSELECT, 4, 0);
        long low = common(DF, 4);
        common(DFSELECT, 4, 1);
        return low | common(DF, 4) << 32;
    }

    private void writeFeatures(long features) {
        common(GFSELECT, 4, 0);
        common(GF, 4, features & 0xFFFF_FFFFL);
        common(GFSELECT, 4, 1);
        common(GF, 4, features >>> 32);
    }

    /** virtio_dev_probe up to FEATURES_OK; returns whether FEATURES_OK stuck. */
    private boolean negotiate(long features) {
        common(STATUS, 1, 0);
        assertEquals(0, common(STATUS, 1));
        addStatus(VirtioFeatures.STATUS_ACKNOWLEDGE);
        addStatus(VirtioFeatures.STATUS_DRIVER);
        writeFeatures(features);
        addStatus(VirtioFeatures.STATUS_FEATURES_OK);
        return (common(STATUS, 1) & VirtioFeatures.STATUS_FEATURES_OK) != 0;
    }

    /** vp_modern_... setup_vq: select, size, vector, addresses, enable; returns the notify offset in its BAR. */
    private long setupQueue(int index, DriverQueue ring, int vector) {
        common(Q_SELECT, 2, index);
        assertEquals(256, common(Q_SIZE, 2));
        assertEquals(0, common(Q_ENABLE, 2));
        common(Q_SIZE, 2, ring.size());
        common(Q_MSIX, 2, vector);
        assertEquals(vector, common(Q_MSIX, 2), "vp_modern_queue_vector reads the vector back");
        common(Q_DESCLO, 4, ring.descriptorTable() & 0xFFFF_FFFFL);
        common(Q_DESCHI, 4, ring.descriptorTable() >>> 32);
        common(Q_AVAILLO, 4, ring.availableRing() & 0xFFFF_FFFFL);
        common(Q_AVAILHI, 4, ring.availableRing() >>> 32);
        common(Q_USEDLO, 4, ring.usedRing() & 0xFFFF_FFFFL);
        common(Q_USEDHI, 4, ring.usedRing() >>> 32);
        common(Q_ENABLE, 2, 1);
        Structure notify = structures.get(2);
        long offset = notify.offset + common(Q_NOFF, 2) * notify.multiplier;
        assertTrue(offset + 2 <= notify.offset + notify.length, "vp_modern_map_vq_notify bounds check");
        return offset;
    }

    private void enableMsix() {
        int control = cfg(msixCapability + 2, 2);
        pci.writeConfig(msixCapability + 2, 2, control | 0x8000);
        pci.writeConfig(PciConfigSpace.COMMAND, 2, cfg(PciConfigSpace.COMMAND, 2) | PciConfigSpace.COMMAND_INTX_DISABLE);
    }

    /** __pci_write_msi_msg then unmask, the way Linux programs an MSI-X entry. */
    private void programEntry(int entry, long address, int data) {
        int tableBir = cfg(msixCapability + 4, 4);
        int bar = tableBir & 7;
        long base = tableBir & ~7;
        pci.writeBar(bar, base + 16L * entry, 4, address & 0xFFFF_FFFFL);
        pci.writeBar(bar, base + 16L * entry + 4, 4, address >>> 32);
        pci.writeBar(bar, base + 16L * entry + 8, 4, data);
        pci.writeBar(bar, base + 16L * entry + 12, 4, 0);
    }

    @Test
    void identifiesAsModernVirtioBlockWithQemuClassCode() {
        assertEquals(0x1AF4, cfg(PciConfigSpace.VENDOR_ID, 2));
        assertEquals(0x1042, cfg(PciConfigSpace.DEVICE_ID, 2));
        assertEquals(1, cfg(PciConfigSpace.REVISION, 1));
        assertEquals(0x010000, cfg(PciConfigSpace.REVISION, 4) >>> 8, "mass storage, SCSI: QEMU's virtio-blk class");
        assertEquals(0x1AF4, cfg(PciConfigSpace.SUBSYSTEM_VENDOR_ID, 2));
        assertTrue(cfg(PciConfigSpace.SUBSYSTEM_ID, 2) >= 0x40, "section 4.1.2.1");
        assertEquals(1, cfg(PciConfigSpace.INTERRUPT_PIN, 1), "INTA#");
        assertEquals(0x020000, VirtioPciDevice.classCode(VirtioDeviceType.NET));
        assertEquals(0x078000, VirtioPciDevice.classCode(VirtioDeviceType.CONSOLE));
        assertEquals(0x00FF00, VirtioPciDevice.classCode(VirtioDeviceType.ENTROPY));
    }

    @Test
    void capabilityListDescribesEveryStructureInsideItsBar() {
        probe();
        for (int type : new int[]{1, 2, 3, 4}) {
            Structure s = structures.get(type);
            assertNotNull(s, "cfg_type " + type);
            long barSize = pci.bars().stream().filter(b -> b.index() == s.bar).findFirst().orElseThrow().size();
            assertTrue(s.offset + (long) s.length <= barSize, "vp_modern_map_capability: cfg_type " + type + " inside BAR " + s.bar);
            assertTrue(barSize >= 4096 && Long.bitCount(barSize) == 1);
        }
        assertTrue(structures.get(1).length >= 0x38, "at least sizeof(struct virtio_pci_common_cfg)");
        assertEquals(4, structures.get(2).multiplier);
        assertNotNull(structures.get(5), "PCI configuration access capability");
        assertTrue(msixCapability != 0);
        assertEquals(2, cfg(msixCapability + 2, 2) & 0x7FF, "table size: 2 queues + config, encoded N-1");
        assertEquals(2, common(NUM_QUEUES, 2));
    }

    @Test
    void barsSizeAndDecodeOnlyWithMemoryEnabled() {
        findCapabilities();
        int reg = PciConfigSpace.BAR0 + 4 * VirtioPciDevice.VIRTIO_BAR;
        pci.writeConfig(reg, 4, -1);
        assertEquals(0xFFFF_C000, cfg(reg, 4), "16 KiB, 32-bit, non-prefetchable");
        pci.writeConfig(reg, 4, 0xFE00_0000);
        assertEquals(0xFE00_0000L, pci.barAddress(VirtioPciDevice.VIRTIO_BAR));
        assertEquals(0xFF, common(NUM_QUEUES, 1), "memory decoding off reads all ones");
        assertEquals(0xFFFF, common(NUM_QUEUES, 2));
        common(STATUS, 1, VirtioFeatures.STATUS_ACKNOWLEDGE);
        pci.writeConfig(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY);
        assertEquals(0, common(STATUS, 1), "the write with decoding off was dropped");
        assertEquals(2, common(NUM_QUEUES, 2));
    }

    @Test
    void linuxProbeWithMsixKicksTheDeviceAndTakesTheQueueVector() {
        probe();
        long offered = deviceFeatures();
        assertEquals(DEVICE_FEATURE_A | DEVICE_FEATURE_B | VirtioFeatures.bit(VirtioFeatures.VERSION_1)
                | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX) | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC),
                offered, "VERSION_1 always, packed rings never");
        long wanted = DEVICE_FEATURE_A | VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC);
        assertTrue(negotiate(wanted));

        // vp_find_vqs_msix: enable MSI-X, vector 0 for config, 1.. for queues.
        enableMsix();
        programEntry(0, 0xFEE0_0000L, 0x40);
        programEntry(1, 0xFEE0_1000L, 0x41);
        common(MSIX_CONFIG, 2, 0);
        assertEquals(0, common(MSIX_CONFIG, 2));
        DriverQueue ring = new DriverQueue(memory, 0x10000, 16);
        long notifyOffset = setupQueue(0, ring, 1);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);

        assertNotNull(fake.context, "activated on DRIVER_OK");
        assertEquals(wanted, fake.context.features());
        assertTrue(fake.context.queues().get(0).isActive());
        assertFalse(fake.context.queues().get(1).isReady());
        assertEquals(1, routes.size(), "one route per ready queue");
        assertEquals(barBase[VirtioPciDevice.VIRTIO_BAR] + notifyOffset, routes.getFirst().address);
        assertEquals(2, routes.getFirst().length);

        ring.addChain(List.of(DriverQueue.Buffer.readable(ring.allocate(16), 16)));
        pci.writeBar(structures.get(2).bar, notifyOffset, 2, 0); // vp_notify: iowrite16(queue index)
        assertEquals(List.of(0), fake.notified);
        assertEquals(1, ring.usedIndex());
        RecordingVector queueVector = vectors.stream().filter(v -> v.triggers > 0).findFirst().orElseThrow();
        assertEquals(0xFEE0_1000L, queueVector.address);
        assertEquals(0x41, queueVector.data);
        assertEquals(1, queueVector.triggers);
        assertEquals(0, pci.readBar(structures.get(3).bar, structures.get(3).offset, 1), "MSI-X: the ISR is not used");
        assertFalse(intxLevels.contains(true));

        ring.addChain(List.of(DriverQueue.Buffer.readable(ring.allocate(16), 16)));
        routes.getFirst().kick.run(); // the ioeventfd path
        assertEquals(List.of(0, 0), fake.notified);
        assertEquals(2, queueVector.triggers);

        fake.context.interrupts().configChanged();
        RecordingVector configVector = vectors.stream().filter(v -> v.data == 0x40).findFirst().orElseThrow();
        assertEquals(1, configVector.triggers);
        assertEquals(1, common(GENERATION, 1), "config_generation moved with the change");
    }

    @Test
    void withoutMsixInterruptsGoThroughIsrAndIntx() {
        probe();
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
        DriverQueue ring = new DriverQueue(memory, 0x10000, 8);
        long notifyOffset = setupQueue(0, ring, NO_VECTOR);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);

        ring.addChain(List.of(DriverQueue.Buffer.readable(ring.allocate(16), 16)));
        pci.writeBar(structures.get(2).bar, notifyOffset, 2, 0);
        assertEquals(List.of(true), intxLevels, "INTx asserted");
        Structure isr = structures.get(3);
        assertEquals(1, pci.readBar(isr.bar, isr.offset, 1), "vp_interrupt: queue bit");
        assertEquals(List.of(true, false), intxLevels, "the ISR read lowered the line");
        assertEquals(0, pci.readBar(isr.bar, isr.offset, 1), "read clears");

        fake.context.interrupts().configChanged();
        assertEquals(2, pci.readBar(isr.bar, isr.offset, 1), "config bit");
        assertTrue(vectors.isEmpty(), "no MSI-X vector was ever needed");
    }

    @Test
    void intxDisableHoldsTheLineDownUntilCleared() {
        probe();
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        pci.writeConfig(PciConfigSpace.COMMAND, 2, cfg(PciConfigSpace.COMMAND, 2) | PciConfigSpace.COMMAND_INTX_DISABLE);
        fake.context.interrupts().configChanged();
        assertTrue(intxLevels.isEmpty());
        pci.writeConfig(PciConfigSpace.COMMAND, 2, cfg(PciConfigSpace.COMMAND, 2) & ~PciConfigSpace.COMMAND_INTX_DISABLE);
        assertEquals(List.of(true), intxLevels);
    }

    @Test
    void featureSetsOutsideTheOfferOrWithoutVersion1AreRefused() {
        probe();
        assertFalse(negotiate(DEVICE_FEATURE_A), "no VERSION_1: a legacy driver");
        assertFalse(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | (1L << 3)), "bit 3 was not offered");
        assertFalse(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(34)), "packed ring was not offered");
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | DEVICE_FEATURE_B));
        writeFeatures(VirtioFeatures.bit(VirtioFeatures.VERSION_1));
        common(GFSELECT, 4, 0);
        assertEquals(DEVICE_FEATURE_B, common(GF, 4), "features are final once FEATURES_OK is set");
    }

    @Test
    void driverOkWithoutFeaturesOkNeedsReset() {
        probe();
        common(STATUS, 1, 0);
        addStatus(VirtioFeatures.STATUS_ACKNOWLEDGE | VirtioFeatures.STATUS_DRIVER);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        assertNull(fake.context);
        assertTrue((common(STATUS, 1) & VirtioFeatures.STATUS_NEEDS_RESET) != 0);
    }

    @Test
    void queueSelectOutOfRangeAndVectorsOutsideTheTable() {
        probe();
        common(Q_SELECT, 2, 2);
        assertEquals(0, common(Q_SIZE, 2));
        common(Q_SIZE, 2, 8);
        common(Q_ENABLE, 2, 1);
        assertEquals(0, common(Q_SIZE, 2));
        assertEquals(0, common(Q_ENABLE, 2));
        common(Q_SELECT, 2, 0xFFFF);
        assertEquals(0, common(Q_SIZE, 2));
        common(Q_SELECT, 2, 1);
        common(Q_MSIX, 2, 3);
        assertEquals(NO_VECTOR, common(Q_MSIX, 2), "table has 3 entries: vector 3 is refused");
        common(Q_MSIX, 2, 2);
        assertEquals(2, common(Q_MSIX, 2));
        common(MSIX_CONFIG, 2, 0x7FF);
        assertEquals(NO_VECTOR, common(MSIX_CONFIG, 2));
        assertEquals(0, common(Q_SIZE, 1), "a 1-byte access to a 16-bit field reads 0");
    }

    @Test
    void refusedActivationSetsNeedsResetAndSignalsConfig() {
        probe();
        fake.refuseActivation = true;
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
        setupQueue(0, new DriverQueue(memory, 0x10000, 8), NO_VECTOR);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        assertTrue((common(STATUS, 1) & VirtioFeatures.STATUS_NEEDS_RESET) != 0);
        assertTrue(routes.isEmpty());
        assertEquals(2, pci.readBar(structures.get(3).bar, structures.get(3).offset, 1), "config interrupt");
        addStatus(VirtioFeatures.STATUS_DRIVER); // the driver writing status back cannot clear NEEDS_RESET
        assertTrue((common(STATUS, 1) & VirtioFeatures.STATUS_NEEDS_RESET) != 0);
    }

    @Test
    void ringOutsideGuestRamNeedsReset() {
        probe();
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
        common(Q_SELECT, 2, 0);
        common(Q_DESCLO, 4, 0);
        common(Q_DESCHI, 4, 1); // 4 GiB: no RAM there in a 1 MiB guest
        common(Q_ENABLE, 2, 1);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        assertNull(fake.context);
        assertTrue((common(STATUS, 1) & VirtioFeatures.STATUS_NEEDS_RESET) != 0);
    }

    @Test
    void statusZeroResetsDeviceQueuesRoutesAndVectors() {
        probe();
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | DEVICE_FEATURE_A));
        enableMsix();
        common(MSIX_CONFIG, 2, 0);
        DriverQueue ring = new DriverQueue(memory, 0x10000, 8);
        long notifyOffset = setupQueue(0, ring, 1);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        assertNotNull(fake.context);
        int resetsBefore = fake.resets;

        common(STATUS, 1, 0);
        assertEquals(0, common(STATUS, 1));
        assertEquals(resetsBefore + 1, fake.resets);
        assertNull(fake.context);
        assertTrue(routes.getFirst().closed);
        common(GFSELECT, 4, 0);
        assertEquals(0, common(GF, 4));
        assertEquals(NO_VECTOR, common(MSIX_CONFIG, 2));
        common(Q_SELECT, 2, 0);
        assertEquals(0, common(Q_ENABLE, 2));
        assertEquals(256, common(Q_SIZE, 2), "back to the maximum");
        assertEquals(NO_VECTOR, common(Q_MSIX, 2));
        assertEquals(0, common(Q_DESCLO, 4));
        assertEquals(0x8000, cfg(msixCapability + 2, 2) & 0x8000, "MSI-X stays enabled: the OS owns it");

        pci.writeBar(structures.get(2).bar, notifyOffset, 2, 0);
        routes.getFirst().kick.run();
        assertTrue(fake.notified.isEmpty(), "kicks after reset go nowhere");

        pci.reset();
        assertEquals(0, cfg(msixCapability + 2, 2) & 0x8000, "function reset disables MSI-X");
        assertEquals(0, cfg(PciConfigSpace.COMMAND, 2) & PciConfigSpace.COMMAND_MEMORY);
        assertEquals(0, pci.barAddress(VirtioPciDevice.VIRTIO_BAR), "BARs wait for firmware to assign them again");
        assertEquals(0, pci.barAddress(VirtioPciDevice.MSIX_BAR));
    }

    @Test
    void badNotifyWritesKickNothing() {
        probe();
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
        long notifyOffset = setupQueue(0, new DriverQueue(memory, 0x10000, 8), NO_VECTOR);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        int bar = structures.get(2).bar;
        pci.writeBar(bar, notifyOffset + 4, 2, 1);   // queue 1 exists but is not enabled
        pci.writeBar(bar, notifyOffset + 2, 2, 0);   // between queues
        pci.writeBar(bar, notifyOffset + 0xFFC, 2, 0); // queue 1023: no such queue
        assertTrue(fake.notified.isEmpty());
        pci.writeBar(bar, notifyOffset, 4, 0);
        assertEquals(List.of(0), fake.notified, "a 4-byte notify still names queue 0 by its address");
    }

    @Test
    void deviceConfigReadsThroughTheDeviceAndAllOnesOutside() {
        probe();
        assertEquals(0x2345_6789L, read(4, 0, 4));
        assertEquals(0x1_2345_6789L, read(4, 0, 8));
        assertEquals(0x89, read(4, 0, 1));
        assertEquals(0xFFFF_FFFFL, read(4, 6, 4), "crosses the end of an 8-byte config");
        assertEquals(0xFF, read(4, 100, 1));
    }

    @Test
    void pciConfigAccessWindowReachesTheCommonConfig() {
        probe();
        int cap = 0;
        int at = cfg(PciConfigSpace.CAPABILITIES_POINTER, 1);
        while (at != 0) {
            if (cfg(at, 1) == 0x09 && cfg(at + 3, 1) == 5) {
                cap = at;
            }
            at = cfg(at + 1, 1);
        }
        pci.writeConfig(cap + 4, 1, VirtioPciDevice.VIRTIO_BAR);
        pci.writeConfig(cap + 8, 4, structures.get(1).offset + NUM_QUEUES);
        pci.writeConfig(cap + 12, 4, 2);
        assertEquals(2, cfg(cap + 16, 4) & 0xFFFF, "num_queues through config space");
        pci.writeConfig(cap + 8, 4, structures.get(1).offset + STATUS);
        pci.writeConfig(cap + 12, 4, 1);
        pci.writeConfig(cap + 16, 4, VirtioFeatures.STATUS_ACKNOWLEDGE);
        assertEquals(VirtioFeatures.STATUS_ACKNOWLEDGE, common(STATUS, 1));
        pci.writeConfig(cap + 4, 1, 0); // BAR 0 is not implemented: nothing happens
        pci.writeConfig(cap + 16, 4, 0);
        assertEquals(VirtioFeatures.STATUS_ACKNOWLEDGE, common(STATUS, 1));
    }

    @Test
    void hostileBarAndConfigAccessesNeverThrow() {
        probe();
        long[] offsets = {-1, 0, 1, 0x37, 0x38, 0xFFF, 0x1000, 0x1001, 0x2007, 0x2FFF, 0x3000, 0x3FFE, 0x3FFF, 0x4000,
                0x800, 0x7FF, 0xFFFF, Long.MAX_VALUE, Long.MIN_VALUE};
        int[] sizes = {0, 1, 2, 3, 4, 5, 8, 16};
        for (int bar = -1; bar < 7; bar++) {
            for (long offset : offsets) {
                for (int size : sizes) {
                    pci.readBar(bar, offset, size);
                    pci.writeBar(bar, offset, size, -1L);
                }
            }
        }
        for (int offset = 0; offset < 256; offset++) {
            for (int size : new int[]{1, 2, 4}) {
                pci.readConfig(offset, size);
            }
        }
        // Still a working device afterwards.
        pci.writeConfig(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY);
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
    }

    @Test
    void maskedQueueVectorShowsPendingInThePbaAndFiresOnUnmask() {
        probe();
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
        enableMsix();
        DriverQueue ring = new DriverQueue(memory, 0x10000, 8);
        setupQueue(0, ring, 1);
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        int tableBir = cfg(msixCapability + 4, 4);
        int pbaBir = cfg(msixCapability + 8, 4);
        // Entry 1 was never unmasked: the interrupt waits in the PBA.
        fake.context.interrupts().usedBuffers(0);
        assertEquals(0b10, pci.readBar(pbaBir & 7, pbaBir & ~7, 4));
        assertTrue(vectors.isEmpty());
        programEntry(1, 0xFEE0_0000L, 0x51);
        assertEquals(0, pci.readBar(pbaBir & 7, pbaBir & ~7, 4));
        assertEquals(1, vectors.size());
        assertEquals(1, vectors.getFirst().triggers);
        assertEquals(0x51, vectors.getFirst().data);
        assertEquals(0x51, pci.readBar(tableBir & 7, (tableBir & ~7) + 16 + 8, 4), "the table reads back through the BAR");
    }

    @Test
    void intxLevelMatchesTheIsrWhenInterruptsRaceIsrReads() throws Exception {
        probe();
        assertTrue(negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1)));
        addStatus(VirtioFeatures.STATUS_DRIVER_OK);
        boolean[] level = new boolean[1];
        Object lineLock = new Object();
        FakeDevice device = new FakeDevice(1);
        VirtioPciDevice racing = new VirtioPciDevice(device, memory, RecordingVector::new, NotifyRouter.NONE,
                asserted -> {
                    synchronized (lineLock) {
                        level[0] = asserted;
                    }
                });
        racing.writeConfig(PciConfigSpace.BAR0 + 4 * VirtioPciDevice.VIRTIO_BAR, 4, 0xFE00_0000);
        racing.writeConfig(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY);
        Structure common = structures.get(1);
        Structure isr = structures.get(3);
        racing.writeBar(common.bar, common.offset + STATUS, 1, VirtioFeatures.STATUS_ACKNOWLEDGE | VirtioFeatures.STATUS_DRIVER);
        racing.writeBar(common.bar, common.offset + GFSELECT, 4, 1);
        racing.writeBar(common.bar, common.offset + GF, 4, 1);
        racing.writeBar(common.bar, common.offset + STATUS, 1, VirtioFeatures.STATUS_ACKNOWLEDGE | VirtioFeatures.STATUS_DRIVER
                | VirtioFeatures.STATUS_FEATURES_OK | VirtioFeatures.STATUS_DRIVER_OK);
        assertNotNull(device.context);

        Thread deviceThread = Thread.ofPlatform().start(() -> {
            for (int i = 0; i < 200_000; i++) {
                device.context.interrupts().usedBuffers(0);
            }
        });
        int seen = 0;
        while (deviceThread.isAlive()) {
            seen |= (int) racing.readBar(isr.bar, isr.offset, 1);
        }
        deviceThread.join();
        assertEquals(1, seen | (int) racing.readBar(isr.bar, isr.offset, 1));
        // Whatever the interleaving, once the ISR has been read empty the line is low.
        assertEquals(0, racing.readBar(isr.bar, isr.offset, 1));
        synchronized (lineLock) {
            assertFalse(level[0], "a level left high with an empty ISR is an interrupt storm");
        }
    }
}
