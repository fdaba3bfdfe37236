package dev.jvirt.devices.pci;

/** A PCI function as the configuration mechanism sees it: 256 bytes of config space. */
public interface PciDevice {

    /** Reads {@code size} (1, 2 or 4) bytes at {@code offset}, which the caller has aligned to size. */
    int readConfig(int offset, int size);

    void writeConfig(int offset, int size, int value);
}
