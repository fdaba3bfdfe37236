package dev.jvirt.vmm.it;

import dev.jvirt.lab.GuestInitramfs;
import dev.jvirt.lab.Lab;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The stock Debian guest on virtio-blk: it mounts ext4 from a qcow2 overlay whose backing file
 * holds the file system, writes 256 MiB with a checksum, syncs, re-reads after dropping its
 * caches, and powers off. Then, outside the guest, the overlay passes the real
 * {@code qemu-img check} and, flattened by {@code jvirt-img convert}, holds the guest's files
 * byte for byte (read with debugfs). A read-only raw disk and virtio-rng ride along.
 */
class VirtioBlockIT {

    private static Path results;

    private static final String SCRIPT = """
            set -u
            cd "$JVIRT_ROOT"
            out="$RESULTS"
            exec 2>> "$out/host.err"   # what the host-side tools said, for the failure messages
            work="$(mktemp -d)"   # L1's tmpfs: the images live next to the VMM, as on a host disk
            mkdir "$work/tree" && echo "from-the-backing-file" > "$work/tree/base.txt"
            mkfs.ext4 -q -F -d "$work/tree" "$work/base.raw" 512M
            bin/jvirt-img convert -f raw -O qcow2 "$work/base.raw" "$work/base.qcow2"
            bin/jvirt-img create -f qcow2 -b "$work/base.qcow2" -F qcow2 "$work/overlay.qcow2" > /dev/null
            md5sum < "$work/base.qcow2" > "$out/base-before.md5"
            head -c 1048576 /dev/zero | tr '\\0' 'R' > "$work/readonly.raw"
            md5sum < "$work/readonly.raw" > "$out/readonly-before.md5"

            bin/jvirt-vmm -m 512 -smp 2 -kernel "$LAB_KERNEL" -initrd "$out/initrd.cpio.gz" -nographic \\
              -drive "file=$work/overlay.qcow2,if=none,id=root,format=qcow2,cache=writeback" \\
              -device virtio-blk-pci,drive=root,serial=JVIRT-ROOT \\
              -drive "file=$work/readonly.raw,if=virtio,format=raw,readonly=on" \\
              -device virtio-rng-pci \\
              -append "console=ttyS0 quiet jvirt.script=disk" < /dev/null > "$out/guest.out" 2>&1 &
            wait_vmm $! 900; echo $? > "$out/guest.status"

            qemu-img check "$work/overlay.qcow2" > "$out/check.out" 2>&1; echo $? > "$out/check.status"
            qemu-img check "$work/base.qcow2" > /dev/null 2>&1; echo $? > "$out/base-check.status"
            md5sum < "$work/base.qcow2" > "$out/base-after.md5"
            md5sum < "$work/readonly.raw" > "$out/readonly-after.md5"
            bin/jvirt-img convert -O raw "$work/overlay.qcow2" "$work/flat.raw" > "$out/convert.out" 2>&1
            debugfs -R "dump /big $work/big" "$work/flat.raw" > /dev/null 2>&1
            md5sum "$work/big" | cut -d' ' -f1 > "$out/host.md5"
            debugfs -R "cat /guest.txt" "$work/flat.raw" > "$out/guest.txt" 2>/dev/null
            rm -rf "$work"
            echo LAB-DONE
            """;

    private static final String GUEST_SCRIPT = """
            load-virtio
            mkdir -p /mnt
            mount -t ext4 /dev/vda /mnt || echo MOUNT-FAILED
            echo "BASE=$(cat /mnt/base.txt)"
            dd if=/dev/urandom of=/mnt/big bs=1M count=256 2>/dev/null
            echo "WROTE-MD5=$(md5sum /mnt/big | cut -d' ' -f1)"
            echo from-the-guest > /mnt/guest.txt
            sync
            umount /mnt
            echo 3 > /proc/sys/vm/drop_caches
            mount -t ext4 -o ro /dev/vda /mnt
            echo "REREAD-MD5=$(md5sum /mnt/big | cut -d' ' -f1)"
            umount /mnt
            echo "SERIAL=$(cat /sys/block/vda/serial)"
            echo "VDB-RO=$(cat /sys/block/vdb/ro)"
            if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 oflag=direct 2>/dev/null; then echo VDB-WRITE=ok; else echo VDB-WRITE=refused; fi
            echo "VDB-BYTE=$(head -c 1 /dev/vdb)"
            echo "RNG=$(cat /sys/class/misc/hw_random/rng_current)"
            echo "RNG-BYTES=$(head -c 64 /dev/hwrng | wc -c)"
            poweroff -f
            """;

    @BeforeAll
    static void bootGuest() throws Exception {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "no /dev/kvm");
        assumeTrue(Lab.isPrepared(), "lab assets missing: run scripts/setup");
        results = Files.createTempDirectory("jvirt-virtio-blk-it-");
        GuestInitramfs.withScripts(Lab.guestInitramfs(), Map.of("disk", GUEST_SCRIPT), results.resolve("initrd.cpio.gz"));
        Lab.Result result = Lab.run("export RESULTS=" + results + "\n" + SCRIPT, Duration.ofMinutes(20), results);
        assertTrue(result.output().contains("LAB-DONE"), "lab script did not finish: " + result.output());
    }

    /** Guest console output, with whatever the host-side tools printed on stderr after it. */
    private static String guestOutput() throws Exception {
        return read("guest.out") + "\n--- host stderr ---\n" + read("host.err");
    }

    private static String read(String name) throws Exception {
        Path file = results.resolve(name);
        return Files.exists(file) ? Files.readString(file).trim() : "(missing " + name + ")";
    }

    private static String value(String output, String key) {
        Matcher m = Pattern.compile(key + "=(\\S+)").matcher(output);
        assertTrue(m.find(), key + " not in guest output:\n" + output);
        return m.group(1);
    }

    @Test
    void guestWritesExt4OnAQcow2OverlayAndReadsItBack() throws Exception {
        String out = guestOutput();
        assertFalse(out.contains("MOUNT-FAILED"), out);
        assertEquals("from-the-backing-file", value(out, "BASE"), "the backing file's data shows through the overlay");
        String wrote = value(out, "WROTE-MD5");
        assertEquals(wrote, value(out, "REREAD-MD5"), "data read back from the disk after dropping caches");
        assertEquals("JVIRT-ROOT", value(out, "SERIAL"));
        assertEquals("0", read("guest.status"), "poweroff ends jvirt-vmm with status 0:\n" + out);
    }

    @Test
    void overlayPassesQemuImgCheckAndHoldsTheGuestsFiles() throws Exception {
        assertEquals("0", read("check.status"), read("check.out"));
        assertTrue(read("check.out").contains("No errors were found"), read("check.out"));
        assertEquals(value(read("guest.out"), "WROTE-MD5"), read("host.md5"), "the 256 MiB file, flattened by jvirt-img convert");
        assertEquals("from-the-guest", read("guest.txt"));
        assertEquals("0", read("base-check.status"));
        assertEquals(read("base-before.md5"), read("base-after.md5"), "the backing file is never written");
    }

    @Test
    void readOnlyDiskRefusesWritesAndStaysUnchanged() throws Exception {
        String out = guestOutput();
        assertEquals("1", value(out, "VDB-RO"));
        assertEquals("refused", value(out, "VDB-WRITE"));
        assertEquals("R", value(out, "VDB-BYTE"));
        assertEquals(read("readonly-before.md5"), read("readonly-after.md5"));
    }

    @Test
    void virtioRngFeedsTheGuestsHwrng() throws Exception {
        String out = guestOutput();
        assertTrue(value(out, "RNG").startsWith("virtio_rng"), out);
        assertEquals("64", value(out, "RNG-BYTES"));
    }
}
