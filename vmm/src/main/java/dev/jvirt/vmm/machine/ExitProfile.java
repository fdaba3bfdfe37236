package dev.jvirt.vmm.machine;

import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * With JVIRT_TRACE_BOOT set, counts one vCPU's exits to the VMM by port and by MMIO page and
 * prints the busiest when the vCPU stops. In a nested or emulated KVM every such exit is costly,
 * so this is where a slow boot's time usually goes.
 */
final class ExitProfile {

    private final int vcpuId;
    private final long started = System.nanoTime();
    private final long[] ports = new long[65536];
    private final Map<Long, long[]> mmioPages = new HashMap<>();
    private long other;

    private ExitProfile(int vcpuId) {
        this.vcpuId = vcpuId;
    }

    /**
     * A profile for {@code vcpuId} when tracing is on, otherwise null. It prints as the process
     * exits: the VM ends by System.exit from whichever thread sees the end, so a vCPU thread does
     * not always get to print it itself.
     */
    static ExitProfile forVcpu(int vcpuId) {
        if (System.getenv("JVIRT_TRACE_BOOT") == null) {
            return null;
        }
        ExitProfile profile = new ExitProfile(vcpuId);
        Runtime.getRuntime().addShutdownHook(new Thread(profile::print));
        return profile;
    }

    void portIo(int port) {
        ports[port & 0xFFFF]++;
    }

    void mmio(long address) {
        mmioPages.computeIfAbsent(address & ~0xFFFL, page -> new long[1])[0]++;
    }

    void otherExit() {
        other++;
    }

    void print() {
        long portTotal = Arrays.stream(ports).sum();
        long mmioTotal = mmioPages.values().stream().mapToLong(count -> count[0]).sum();
        String busiestPorts = java.util.stream.IntStream.range(0, ports.length).filter(port -> ports[port] > 0).boxed()
                .sorted(Comparator.comparingLong((Integer port) -> ports[port]).reversed()).limit(8)
                .map(port -> "0x%x:%d".formatted(port, ports[port])).collect(Collectors.joining(" "));
        String busiestPages = mmioPages.entrySet().stream()
                .sorted(Comparator.comparingLong((Map.Entry<Long, long[]> page) -> page.getValue()[0]).reversed()).limit(8)
                .map(page -> "0x%x:%d".formatted(page.getKey(), page.getValue()[0])).collect(Collectors.joining(" "));
        System.err.printf("jvirt-vmm: vCPU %d exits in %d ms: port I/O %d [%s], MMIO %d [%s], other %d%n", vcpuId,
                (System.nanoTime() - started) / 1_000_000, portTotal, busiestPorts, mmioTotal, busiestPages, other);
    }
}
