package dev.jvirt.vmm.cli;

import java.nio.file.Path;

/**
 * One virtio PCI function the command line asked for, with its back end resolved
 * ({@code -drive}/{@code -netdev}/{@code -chardev} joined to their {@code -device}).
 * {@code slot} is the PCI slot from {@code addr=}, or -1 for the next free one.
 */
public sealed interface DeviceSpec {

    int slot();

    /** A virtio-blk disk: {@code -drive file=F,if=virtio,...} or {@code -device virtio-blk-pci,drive=ID}. */
    record Block(String id, Path file, String format, String cache, boolean readOnly, String serial,
                 boolean discard, int queues, int slot) implements DeviceSpec {
    }

    /** A virtio-net NIC on a TAP device ({@code ifname} null: the kernel picks), optionally on a bridge. */
    record Net(String id, String ifname, String bridge, String mac, int slot) implements DeviceSpec {
    }

    record Rng(String id, int slot) implements DeviceSpec {
    }

    record Balloon(String id, int slot) implements DeviceSpec {
    }

    /** A virtconsole (hvc0) whose other end is stdio, a file, or nothing. */
    record Console(String id, ConsoleBackend backend, Path path, int slot) implements DeviceSpec {
    }

    enum ConsoleBackend { STDIO, FILE, NULL }
}
