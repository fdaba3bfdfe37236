package dev.jvirt.daemon.vm;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest's balloon statistics (QEMU's guest-stats names) as virDomainMemoryStatTags, with
 * the units libvirt's qemu driver reports: memory sizes from bytes to KiB, counts as they are.
 */
final class MemoryStats {

    /** QEMU's name, libvirt's tag, divisor. */
    private record Mapping(String name, int tag, int divisor) { }

    private static final List<Mapping> MAPPINGS = List.of(
            new Mapping("stat-swap-in", 0, 1024),
            new Mapping("stat-swap-out", 1, 1024),
            new Mapping("stat-major-faults", 2, 1),
            new Mapping("stat-minor-faults", 3, 1),
            new Mapping("stat-free-memory", 4, 1024),       // UNUSED
            new Mapping("stat-total-memory", 5, 1024),      // AVAILABLE
            new Mapping("stat-available-memory", 8, 1024),  // USABLE
            new Mapping("stat-disk-caches", 10, 1024),
            new Mapping("stat-htlb-pgalloc", 11, 1),
            new Mapping("stat-htlb-pgfail", 12, 1));

    private MemoryStats() {
    }

    /** From qom-get guest-stats: {stats: {name: value}, last-update: seconds}; unreported values (-1 or absent) are left out. */
    static List<long[]> fromGuestStats(JsonNode reply) {
        List<long[]> stats = new ArrayList<>();
        JsonNode values = reply.path("stats");
        for (Mapping mapping : MAPPINGS) {
            JsonNode value = values.get(mapping.name());
            if (value != null && value.canConvertToLong() && value.asLong() >= 0) {
                stats.add(new long[] {mapping.tag(), value.asLong() / mapping.divisor()});
            }
        }
        long lastUpdate = reply.path("last-update").asLong(0);
        if (lastUpdate > 0) {
            stats.add(new long[] {9, lastUpdate}); // LAST_UPDATE
        }
        return stats;
    }

    /** VmRSS of a process in KiB, -1 when it cannot be read. */
    static long residentKiB(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // gone or unreadable
        }
        return -1;
    }
}
