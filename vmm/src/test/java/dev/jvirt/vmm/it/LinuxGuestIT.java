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
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Boots the stock Debian kernel with a busybox initramfs under bin/jvirt-vmm where KVM is real
 * (directly, or inside the nested lab). One lab session runs every scenario, each writing its
 * console output and exit status to a shared directory that the tests then read.
 */
class LinuxGuestIT {

    private static Path results;

    private static final String SCRIPT = """
            set -u
            cd "$JVIRT_ROOT"
            out="$RESULTS"
            # FIFOs and sockets cannot live on the 9p share; they go to a local directory.
            local_dir="$(mktemp -d)"
            vmm() { bin/jvirt-vmm -kernel "$LAB_KERNEL" -initrd "$out/initrd.cpio.gz" -nographic "$@"; }
            date -u +%Y-%m-%d > "$out/host-date"

            # smp 1 and smp 2: the guest reports CPUs, memory and the RTC's date, then powers off.
            vmm -m 256 -smp 1 -append "console=ttyS0 quiet jvirt.script=info" < /dev/null > "$out/smp1.out" 2>&1 &
            wait_vmm $! 400; echo $? > "$out/smp1.status"
            vmm -m 512 -smp 2 -cpu qemu64 -append "console=ttyS0 quiet jvirt.script=info" < /dev/null > "$out/smp2.out" 2>&1 &
            wait_vmm $! 400; echo $? > "$out/smp2.status"
            # The uncompressed vmlinux of the same kernel, entered through its PVH note.
            bin/jvirt-vmm -kernel "$VMLINUX" -initrd "$out/initrd.cpio.gz" -nographic -m 512 -smp 2 \
              -append "console=ttyS0 quiet jvirt.script=info" < /dev/null > "$out/pvh.out" 2>&1 &
            wait_vmm $! 400; echo $? > "$out/pvh.status"

            # -mem-path on hugetlbfs: the guest's RAM comes out of L1's 2 MiB pages.
            echo 80 > /proc/sys/vm/nr_hugepages
            mkdir -p "$local_dir/huge" && mount -t hugetlbfs none "$local_dir/huge"
            bin/jvirt-vmm -kernel "$LAB_KERNEL" -initrd "$out/initrd.cpio.gz" -nographic -m 128 -mem-path "$local_dir/huge" \
              -append "console=ttyS0 quiet jvirt.script=counter" < /dev/null > "$out/huge.out" 2>&1 &
            pid=$!
            wait_for "$out/huge.out" "COUNT 3" 120
            grep -E '^HugePages_(Total|Free|Rsvd)' /proc/meminfo > "$out/huge-meminfo"
            kill $pid; wait_vmm $pid 60; echo $? > "$out/huge.status"
            umount "$local_dir/huge"

            # Interactive console: a command typed on stdin runs in the guest shell.
            mkfifo "$local_dir/console.in"
            # Then `reboot -f` restarts the machine in place (two vCPUs) and the new shell answers too.
            vmm -m 256 -smp 2 -append "console=ttyS0 quiet" < "$local_dir/console.in" > "$out/console.out" 2>&1 &
            pid=$!
            exec 3> "$local_dir/console.in"
            wait_for "$out/console.out" JVIRT-GUEST-SHELL 120 && sleep 1
            echo 'echo "answer-$((6 * 7))"' >&3
            wait_for "$out/console.out" answer-42 30 || kill $pid
            echo 'reboot -f' >&3
            for _ in $(seq 1800); do [ "$(grep -c JVIRT-GUEST-SHELL "$out/console.out")" -ge 2 ] && break; sleep 0.1; done
            sleep 1
            echo 'echo "rebooted-$((6 * 7)) CPUS-AFTER=$(grep -c ^processor /proc/cpuinfo)"' >&3
            wait_for "$out/console.out" rebooted-42 30 || kill $pid
            echo 'poweroff -f' >&3
            wait_vmm $pid 180; echo $? > "$out/console.status"
            exec 3>&-

            # QMP: stop and cont pause and resume a guest that counts; quit ends it.
            sock="$local_dir/qmp.sock"
            # socat waits up to 10 s for the reply: a loaded lab can take seconds to answer.
            qmp() { printf '%s\\n' '{"execute":"qmp_capabilities"}' "{\\"execute\\":\\"$1\\"}" | socat -t 10 - "UNIX-CONNECT:$sock"; }
            vmm -m 256 -append "console=ttyS0 quiet jvirt.script=counter" -qmp "unix:$sock,server,nowait" < /dev/null > "$out/qmp.out" 2>&1 &
            pid=$!
            wait_for "$out/qmp.out" "COUNT 5" 120 || kill $pid
            qmp stop > "$out/qmp-stop.reply"
            qmp query-status > "$out/qmp-status-paused.reply"
            grep -c COUNT "$out/qmp.out" > "$out/count-at-stop"
            sleep 3
            grep -c COUNT "$out/qmp.out" > "$out/count-after-pause"
            qmp cont > "$out/qmp-cont.reply"
            sleep 3
            grep -c COUNT "$out/qmp.out" > "$out/count-after-cont"
            qmp quit > "$out/qmp-quit.reply"
            wait_vmm $pid 60; echo $? > "$out/qmp.status"
            echo LAB-DONE
            """;

    @BeforeAll
    static void bootGuests() throws Exception {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "no /dev/kvm");
        assumeTrue(Lab.isPrepared(), "lab assets missing: run scripts/setup");
        results = Files.createTempDirectory("jvirt-linux-it-");
        GuestInitramfs.withScripts(Lab.guestInitramfs(), Map.of(
                "info", """
                        echo "CPUS=$(grep -c ^processor /proc/cpuinfo)"
                        echo "MEMKB=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
                        echo "DATE=$(date -u +%Y-%m-%d)"
                        # boot_params.type_of_loader (offset 0x210): ours is 0xff; the kernel's PVH entry writes 0xb0.
                        echo "LOADER=$(od -An -tx1 -j 528 -N1 /sys/kernel/boot_params/data | tr -d ' ')"
                        poweroff -f
                        """,
                "counter", """
                        i=0
                        while true; do echo "COUNT $i"; i=$((i + 1)); sleep 0.2; done
                        """), results.resolve("initrd.cpio.gz"));
        Lab.Result result = Lab.run("export RESULTS=" + results + " VMLINUX=" + Lab.vmlinux() + "\n" + SCRIPT, Duration.ofMinutes(20), results);
        assertTrue(result.output().contains("LAB-DONE"), "lab script did not finish: " + result.output());
    }

    private static String read(String name) throws Exception {
        Path file = results.resolve(name);
        return Files.exists(file) ? Files.readString(file).trim() : "(missing " + name + ")";
    }

    private static long value(String output, String key) {
        Matcher m = Pattern.compile(key + "=(\\S+)").matcher(output);
        assertTrue(m.find(), key + " not in guest output:\n" + output);
        return key.equals("DATE") ? 0 : Long.parseLong(m.group(1));
    }

    @Test
    void oneCpuGuestBootsToInitAndPowersOffWithStatusZero() throws Exception {
        String out = read("smp1.out");
        assertTrue(out.contains("JVIRT-GUEST-INIT"), out);
        assertEquals(1, value(out, "CPUS"), out);
        long memKb = value(out, "MEMKB");
        assertTrue(memKb > 180_000 && memKb <= 256 * 1024, "MemTotal " + memKb + " kB for -m 256");
        assertTrue(out.contains("DATE=" + read("host-date")), "guest RTC date matches the host's: " + out);
        assertEquals("0", read("smp1.status"), out);
        assertEquals("ff", text(out, "LOADER"), "a bzImage goes through the 64-bit boot protocol: " + out);
    }

    @Test
    void vmlinuxWithThePvhNoteBootsThroughThePvhEntry() throws Exception {
        String out = read("pvh.out");
        assertEquals("b0", text(out, "LOADER"), "the kernel's PVH entry code ran: " + out);
        assertEquals(2, value(out, "CPUS"), out);
        long memKb = value(out, "MEMKB");
        assertTrue(memKb > 400_000 && memKb <= 512 * 1024, "MemTotal " + memKb + " kB for -m 512");
        assertEquals("0", read("pvh.status"), out);
    }

    private static long meminfoField(String meminfo, String field) {
        Matcher m = Pattern.compile("(?m)^" + field + ":\\s*(\\d+)").matcher(meminfo);
        assertTrue(m.find(), field + " not in " + meminfo);
        return Long.parseLong(m.group(1));
    }

    private static String text(String output, String key) {
        Matcher m = Pattern.compile(key + "=(\\S+)").matcher(output);
        assertTrue(m.find(), key + " not in guest output:\n" + output);
        return m.group(1);
    }

    @Test
    void twoCpuGuestSeesBothCpusAndItsMemory() throws Exception {
        String out = read("smp2.out");
        assertEquals(2, value(out, "CPUS"), out);
        long memKb = value(out, "MEMKB");
        assertTrue(memKb > 400_000 && memKb <= 512 * 1024, "MemTotal " + memKb + " kB for -m 512");
        assertTrue(out.contains("DATE=" + read("host-date")), out);
        assertEquals("0", read("smp2.status"), out);
    }

    @Test
    void memPathOnHugetlbfsBacksAllGuestRamWithHugePages() throws Exception {
        String out = read("huge.out");
        assertTrue(out.contains("COUNT 3"), "the guest ran: " + out);
        String meminfo = read("huge-meminfo");
        long total = meminfoField(meminfo, "HugePages_Total");
        long free = meminfoField(meminfo, "HugePages_Free");
        long reserved = meminfoField(meminfo, "HugePages_Rsvd");
        // Pages in use or promised to the mapping: all of -m 128 in 2 MiB pages.
        assertEquals(64, total - free + reserved, meminfo);
        assertEquals("0", read("huge.status"), "SIGTERM ends jvirt-vmm cleanly: " + out);
    }

    @Test
    void commandTypedOnStdinRunsInTheGuestShell() throws Exception {
        String out = read("console.out");
        assertTrue(out.contains("answer-42"), "the guest shell computed the answer: " + out);
        assertEquals(2, out.split("JVIRT-GUEST-INIT", -1).length - 1, "reboot -f booted the guest a second time: " + out);
        assertTrue(out.contains("rebooted-42"), "the shell after the reboot answers: " + out);
        assertEquals(2, value(out.substring(out.indexOf("rebooted-42")), "CPUS-AFTER"), "both vCPUs came up again: " + out);
        assertEquals("0", read("console.status"), out);
    }

    @Test
    void qmpStopAndContPauseAndResumeTheGuestAndQuitEndsIt() throws Exception {
        assertTrue(read("qmp-stop.reply").contains("\"event\":\"STOP\""), read("qmp-stop.reply"));
        assertTrue(read("qmp-status-paused.reply").contains("\"status\":\"paused\""), read("qmp-status-paused.reply"));
        long atStop = Long.parseLong(read("count-at-stop"));
        long afterPause = Long.parseLong(read("count-after-pause"));
        long afterCont = Long.parseLong(read("count-after-cont"));
        assertTrue(atStop >= 6, "counter ran before stop: " + atStop);
        assertTrue(afterPause - atStop <= 1, "counter stopped while paused: " + atStop + " -> " + afterPause);
        assertTrue(afterCont >= afterPause + 5, "counter resumed after cont: " + afterPause + " -> " + afterCont);
        assertTrue(read("qmp-quit.reply").contains("\"reason\":\"host-qmp-quit\""), read("qmp-quit.reply"));
        assertEquals("0", read("qmp.status"));
    }
}
