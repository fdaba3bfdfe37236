package dev.jvirt.daemon;

import dev.jvirt.lab.GuestInitramfs;
import dev.jvirt.lab.Lab;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The whole stack on a real guest, where KVM is real (directly or in the nested lab): virsh defines
 * a domain booting the Debian kernel with a virtio disk and a balloon, starts it through jvirtd,
 * sees it running and reading the disk, lowers its memory with {@code virsh setmem --live} (the
 * balloon inflates; dommemstat and dominfo follow), and {@code virsh shutdown} presses the ACPI
 * power button, which the guest answers by powering off.
 */
class LinuxDomainIT {

    private static final String SCRIPT = """
            set -u
            cd "$JVIRT_ROOT"
            out="$RESULTS"
            state="$(mktemp -d)"
            bin/jvirtd --state-dir "$state" --listen 127.0.0.1:16510 > "$out/jvirtd.log" 2>&1 &
            for _ in $(seq 300); do [ -S "$state/libvirt-sock" ] && break; sleep 0.2; done
            uri=qemu+tcp://127.0.0.1:16510/system
            work="$(mktemp -d)"   # L1's tmpfs: the disk image lives next to the VMM
            printf 'JVIRT-DISK-PATTERN' > "$work/disk.raw" && truncate -s 4M "$work/disk.raw"
            cat > "$out/guest.xml" <<XML
            <domain type='kvm'>
              <name>linux1</name>
              <memory unit='MiB'>256</memory>
              <vcpu>2</vcpu>
              <cpu mode='host-passthrough'/>
              <os>
                <type arch='x86_64'>hvm</type>
                <kernel>$LAB_KERNEL</kernel>
                <initrd>$out/initrd.cpio.gz</initrd>
                <cmdline>console=ttyS0 quiet jvirt.script=button</cmdline>
              </os>
              <devices>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='raw' cache='writeback'/>
                  <source file='$work/disk.raw'/>
                  <target dev='vda' bus='virtio'/>
                  <serial>LINUX-DISK</serial>
                </disk>
                <memballoon model='virtio'><stats period='2'/></memballoon>
              </devices>
            </domain>
            XML
            virsh -c $uri define "$out/guest.xml" > "$out/define.txt" 2>&1
            # Starting takes a while in the TCG-emulated lab: virsh's keepalive must be answered meanwhile.
            timeout 180 virsh -k 5 -c $uri start linux1 > "$out/start.txt" 2>&1 || \
              jcmd "$(pgrep -f dev.jvirt.daemon.Main)" Thread.print > "$out/jvirtd-threads.txt" 2>&1
            virsh -c $uri domstate linux1 > "$out/state-after-start.txt" 2>&1
            for _ in $(seq 600); do grep -q WAITING-FOR-BUTTON "$state/run/linux1.console.log" 2>/dev/null && break; sleep 0.2; done
            virsh -c $uri dominfo linux1 > "$out/dominfo.txt" 2>&1
            virsh -c $uri domblklist linux1 > "$out/domblklist.txt" 2>&1
            virsh -c $uri dommemstat linux1 > "$out/memstat-before.txt" 2>&1
            virsh -c $uri setmem linux1 128M --live > "$out/setmem.txt" 2>&1
            # The guest's balloon driver gives up its pages a batch at a time: give it two minutes.
            for _ in $(seq 120); do
              virsh -c $uri dommemstat linux1 > "$out/memstat-after.txt" 2>&1
              grep -q "^actual 131072" "$out/memstat-after.txt" && break; sleep 1
            done
            sleep 3   # one more statistics period, so the guest's own figures follow
            virsh -c $uri dommemstat linux1 > "$out/memstat-after.txt" 2>&1
            virsh -c $uri dominfo linux1 > "$out/dominfo-after-setmem.txt" 2>&1
            virsh -c $uri shutdown linux1 > "$out/shutdown.txt" 2>&1
            for _ in $(seq 300); do virsh -c $uri domstate linux1 | grep -q "shut off" && break; sleep 0.2; done
            virsh -c $uri domstate --reason linux1 > "$out/state-after-shutdown.txt" 2>&1
            cp "$state/run/linux1.console.log" "$out/console.log"
            rm -rf "$work"
            echo LAB-DONE
            """;

    @Test
    void virshStartsAndShutsDownALinuxGuest() throws Exception {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "no /dev/kvm");
        assumeTrue(Lab.isPrepared(), "lab assets missing: run scripts/setup");
        Path results = Files.createTempDirectory("jvirt-linux-domain-");
        GuestInitramfs.withScripts(Lab.guestInitramfs(), Map.of("button", """
                echo "CPUS=$(grep -c ^processor /proc/cpuinfo)"
                load-virtio
                echo "DISK-BYTES=$(head -c 18 /dev/vda)"
                echo "DISK-SERIAL=$(cat /sys/block/vda/serial)"
                insmod /lib/modules/evdev.ko
                insmod /lib/modules/button.ko
                event=""
                for dev in /sys/class/input/input*; do
                  if grep -q "Power Button" "$dev/name" 2>/dev/null; then event=$(ls "$dev" | grep '^event' | head -1); fi
                done
                echo "WAITING-FOR-BUTTON on $event"
                head -c 24 "/dev/input/$event" > /dev/null
                echo "BUTTON-PRESSED"
                poweroff -f
                """), results.resolve("initrd.cpio.gz"));
        Lab.Result lab = Lab.run("export RESULTS=" + results + "\n" + SCRIPT, Duration.ofMinutes(10), results);
        assertTrue(lab.output().contains("LAB-DONE"), lab.output());

        assertTrue(Files.readString(results.resolve("define.txt")).contains("Domain 'linux1' defined"));
        assertTrue(Files.readString(results.resolve("start.txt")).contains("Domain 'linux1' started"),
                Files.readString(results.resolve("start.txt")));
        assertEquals("running", Files.readString(results.resolve("state-after-start.txt")).trim());
        String console = Files.readString(results.resolve("console.log"));
        assertTrue(console.contains("JVIRT-GUEST-INIT") && console.contains("CPUS=2"), console);
        assertTrue(Files.readString(results.resolve("dominfo.txt")).matches("(?s).*State:\\s+running.*CPU\\(s\\):\\s+2.*"));
        assertTrue(console.contains("BUTTON-PRESSED"), "the guest saw the ACPI power button: " + console);
        assertEquals("shut off (shutdown)", Files.readString(results.resolve("state-after-shutdown.txt")).trim());

        assertTrue(console.contains("DISK-BYTES=JVIRT-DISK-PATTERN"), "the guest reads the domain's virtio disk: " + console);
        assertTrue(console.contains("DISK-SERIAL=LINUX-DISK"), console);
        assertTrue(Files.readString(results.resolve("domblklist.txt")).matches("(?s).*vda\\s+/\\S+/disk\\.raw.*"),
                Files.readString(results.resolve("domblklist.txt")));
        String before = Files.readString(results.resolve("memstat-before.txt"));
        assertTrue(before.contains("actual 262144"), "the balloon starts empty: " + before);
        assertEquals("", Files.readString(results.resolve("setmem.txt")).trim());
        String after = Files.readString(results.resolve("memstat-after.txt"));
        assertTrue(after.contains("actual 131072"), "virsh setmem --live inflated the balloon to 128 MiB: " + after);
        long available = stat(after, "available");
        assertTrue(available > 0 && available <= 131072, "the guest itself sees at most 128 MiB (its total): " + after);
        assertTrue(Files.readString(results.resolve("dominfo-after-setmem.txt")).matches("(?s).*Used memory:\\s+131072 KiB.*"),
                Files.readString(results.resolve("dominfo-after-setmem.txt")));
    }

    private static long stat(String dommemstat, String name) {
        return dommemstat.lines().filter(line -> line.startsWith(name + " ")).mapToLong(line -> Long.parseLong(line.split("\\s+")[1]))
                .findFirst().orElseThrow(() -> new AssertionError("no '" + name + "' in dommemstat:\n" + dommemstat));
    }
}
