package dev.jvirt.virtio.blk;

import dev.jvirt.block.CacheMode;
import dev.jvirt.block.raw.RawImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** cache= and the guest's write cache: what the config reports and when the device flushes. */
class VirtioBlockCacheTest {

    @TempDir
    Path dir;

    private ForwardingDisk disk(CacheMode cache) throws Exception {
        Path path = dir.resolve("disk-" + cache + ".raw");
        RawImage.create(path, 1 << 20);
        return new ForwardingDisk(RawImage.open(path, false, cache));
    }

    private static VirtioBlockOptions options(CacheMode cache) {
        return VirtioBlockOptions.of(Path.of("unused")).withCache(cache);
    }

    @Test
    void writebackReportsTheCacheAndFlushesOnlyWhenAsked() throws Exception {
        ForwardingDisk disk = disk(CacheMode.WRITEBACK);
        try (BlkGuest guest = new BlkGuest(new VirtioBlock(disk, options(CacheMode.WRITEBACK))).activate()) {
            assertEquals(1, guest.device.readConfig(VirtioBlk.CONFIG_WRITEBACK, 1));
            guest.write(0, new byte[512]);
            assertEquals(0, disk.flushes.get(), "a write alone is not flushed");
            BlkGuest.Completion flush = guest.request(VirtioBlk.T_FLUSH, 0, null, 0);
            assertEquals(VirtioBlk.S_OK, flush.status());
            assertEquals(1, flush.usedLength());
            assertEquals(1, disk.flushes.get());
        }
    }

    @Test
    void guestTurningTheCacheOffMakesEveryWriteFlushedUntilReset() throws Exception {
        ForwardingDisk disk = disk(CacheMode.WRITEBACK);
        VirtioBlock device = new VirtioBlock(disk, options(CacheMode.WRITEBACK));
        try (BlkGuest guest = new BlkGuest(device).activate()) {
            device.writeConfig(VirtioBlk.CONFIG_WRITEBACK, 1, 0);
            assertEquals(0, device.readConfig(VirtioBlk.CONFIG_WRITEBACK, 1));
            guest.write(0, new byte[512]);
            assertEquals(1, disk.flushes.get());
            guest.request(VirtioBlk.T_WRITE_ZEROES, 0, BlkGuest.segment(0, 1, 0), 0);
            assertEquals(2, disk.flushes.get());

            device.writeConfig(VirtioBlk.CONFIG_WRITEBACK, 1, 7);
            assertEquals(0, device.readConfig(VirtioBlk.CONFIG_WRITEBACK, 1), "only 0 and 1 are modes");
            device.writeConfig(VirtioBlk.CONFIG_CAPACITY, 4, 0);
            assertEquals(2048, device.readConfig(VirtioBlk.CONFIG_CAPACITY, 4), "capacity is read-only");

            device.reset();
            assertEquals(1, device.readConfig(VirtioBlk.CONFIG_WRITEBACK, 1), "reset restores cache=writeback");
        }
    }

    @Test
    void driverWithoutFlushGetsEveryWriteFlushed() throws Exception {
        ForwardingDisk disk = disk(CacheMode.WRITEBACK);
        try (BlkGuest guest = new BlkGuest(new VirtioBlock(disk, options(CacheMode.WRITEBACK)))
                .activate(~(1L << VirtioBlk.F_FLUSH))) {
            guest.write(0, new byte[512]);
            assertEquals(1, disk.flushes.get());
        }
    }

    @Test
    void writethroughReportsNoCacheAndLeavesFlushingToTheBlockLayer() throws Exception {
        ForwardingDisk disk = disk(CacheMode.WRITETHROUGH);
        try (BlkGuest guest = new BlkGuest(new VirtioBlock(disk, options(CacheMode.WRITETHROUGH))).activate()) {
            assertEquals(0, guest.device.readConfig(VirtioBlk.CONFIG_WRITEBACK, 1));
            guest.write(0, new byte[512]);
            // RawImage forces the file itself after each write with cache=writethrough.
            assertEquals(0, disk.flushes.get());
        }
    }

    @Test
    void unsafeAndNoneReportTheCache() throws Exception {
        for (CacheMode mode : new CacheMode[] {CacheMode.UNSAFE, CacheMode.NONE}) {
            try (VirtioBlock device = new VirtioBlock(disk(mode), options(mode))) {
                assertEquals(1, device.readConfig(VirtioBlk.CONFIG_WRITEBACK, 1), mode.toString());
            }
        }
    }
}
