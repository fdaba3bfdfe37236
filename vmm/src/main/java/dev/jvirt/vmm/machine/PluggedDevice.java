package dev.jvirt.vmm.machine;

import dev.jvirt.virtio.VirtioDevice;
import dev.jvirt.virtio.pci.VirtioPciDevice;

/**
 * A virtio PCI function on the machine's bus, as QMP reports it: the id the command line (or
 * device_add) gave, its slot, QEMU's driver name, the transport and the device behind it.
 */
public record PluggedDevice(String id, int slot, String driver, VirtioPciDevice pci, VirtioDevice device) {
}
