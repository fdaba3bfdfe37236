package dev.jvirt.virtio.balloon;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The guest's latest memory statistics, shaped like QEMU's {@code guest-stats} property
 * ({@code qom-get /machine/peripheral/balloon guest-stats}): {@code lastUpdate} in seconds
 * since the epoch (0 before the first report) and every statistic by QEMU's name, in tag order,
 * with {@link #UNSET} for what the guest did not report. Memory sizes are in bytes, the others
 * are counts; the values are the guest's u64s as Java longs, as QEMU passes them on.
 */
public record BalloonStats(long lastUpdate, Map<String, Long> values) {

    /** What a statistic the guest did not report holds (QEMU's (uint64_t)-1, shown as -1). */
    public static final long UNSET = -1;

    /** QEMU's names, indexed by the VIRTIO_BALLOON_S_* tag the guest sends. */
    public static final List<String> NAMES = List.of(
            "stat-swap-in",          // 0 SWAP_IN
            "stat-swap-out",         // 1 SWAP_OUT
            "stat-major-faults",     // 2 MAJFLT
            "stat-minor-faults",     // 3 MINFLT
            "stat-free-memory",      // 4 MEMFREE
            "stat-total-memory",     // 5 MEMTOT
            "stat-available-memory", // 6 AVAIL
            "stat-disk-caches",      // 7 CACHES
            "stat-htlb-pgalloc",     // 8 HTLB_PGALLOC
            "stat-htlb-pgfail",      // 9 HTLB_PGFAIL
            "stat-oom-kills",        // 10 OOM_KILL
            "stat-alloc-stalls",     // 11 ALLOC_STALL
            "stat-async-scans",      // 12 ASYNC_SCAN
            "stat-direct-scans",     // 13 DIRECT_SCAN
            "stat-async-reclaims",   // 14 ASYNC_RECLAIM
            "stat-direct-reclaims"); // 15 DIRECT_RECLAIM

    public BalloonStats {
        values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /** Builds the record from values indexed by tag. */
    static BalloonStats of(long lastUpdate, long[] byTag) {
        Map<String, Long> values = new LinkedHashMap<>();
        for (int tag = 0; tag < NAMES.size(); tag++) {
            values.put(NAMES.get(tag), byTag[tag]);
        }
        return new BalloonStats(lastUpdate, values);
    }

    /** The statistic called {@code name}, {@link #UNSET} if unreported or unknown. */
    public long get(String name) {
        return values.getOrDefault(name, UNSET);
    }
}
