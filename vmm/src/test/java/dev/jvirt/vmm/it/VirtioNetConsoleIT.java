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
 * The stock Debian guest with virtio-net on a tap in a Linux bridge, a virtconsole (hvc0) and a
 * virtio-balloon: the host (L1 of the lab, or this machine) and the guest ping each other and
 * move 100 MiB each way over TCP with matching checksums; root logs in on hvc0 through getty and
 * the login shell runs what the host types; QMP balloon lowers the guest's memory and gives it back.
 */
class VirtioNetConsoleIT {

    private static Path results;

    private static final String SCRIPT = """
            set -u
            cd "$JVIRT_ROOT"
            out="$RESULTS"
            exec 2>> "$out/host.err"
            export JVIRT_JAVA_OPTS="-XX:ErrorFile=$out/hs_err_%p.log"   # a VMM crash report lands with the results
            work="$(mktemp -d)"
            ip link add jvbr0 type bridge && ip addr add 10.77.0.1/24 dev jvbr0 && ip link set jvbr0 up
            head -c 104857600 /dev/urandom > "$work/to-guest"
            md5sum < "$work/to-guest" | cut -d' ' -f1 > "$out/to-guest.md5"

            mkfifo "$work/hvc.in"
            sock="$work/qmp.sock"
            qmp() { printf '%s\\n' '{"execute":"qmp_capabilities"}' "$1" | socat -t 3 - "UNIX-CONNECT:$sock"; }
            balloon_reaches() { # BYTES REPLY-FILE: the driver works page by page; give it a minute
              for _ in $(seq 60); do
                qmp '{"execute":"query-balloon"}' > "$2"; grep -q "\\"actual\\":$1" "$2" && return 0; sleep 1
              done
            }
            bin/jvirt-vmm -m 512 -kernel "$LAB_KERNEL" -initrd "$out/initrd.cpio.gz" -serial "file:$out/serial.out" \\
              -netdev bridge,id=n0,br=jvbr0 -device virtio-net-pci,netdev=n0,mac=52:54:00:4a:56:01 \\
              -device virtio-serial-pci -chardev stdio,id=hvc -device virtconsole,chardev=hvc \\
              -device virtio-balloon-pci,id=balloon0 -qmp "unix:$sock,server,nowait" \\
              -append "console=ttyS0 quiet jvirt.script=net" < "$work/hvc.in" > "$out/hvc.out" 2> "$out/vmm.err" &
            pid=$!
            exec 3> "$work/hvc.in"

            wait_for "$out/serial.out" GUEST-NET-UP 120
            busybox ping -c 3 -W 2 10.77.0.15 > "$out/host-ping.out" 2>&1; echo $? > "$out/host-ping.status"
            wait_for "$out/serial.out" GUEST-LISTENING 30
            timeout 600 socat -u "FILE:$work/to-guest" TCP:10.77.0.15:5000 2>> "$out/host.err"
            timeout 600 socat -u TCP-LISTEN:5001,reuseaddr "OPEN:$work/from-guest,creat,trunc" &   # a stalled transfer fails, not hangs
            listener=$!
            sleep 1
            # A login on hvc0: getty's prompt, the user name, then commands in the login shell.
            wait_for "$out/hvc.out" "guest login:" 90 && sleep 1
            echo root >&3
            wait_for "$out/hvc.out" HVC-LOGGED-IN 60
            echo 'echo "hvc-answer-$((6 * 7))"; echo "HVC-USER=$LOGNAME"; echo "HVC-UID=$(id -u)"; echo "HVC-TTY=$(tty)"' >&3
            wait_for "$out/hvc.out" hvc-answer-42 30
            echo 'echo go > /tmp/go' >&3
            wait $listener
            md5sum < "$work/from-guest" | cut -d' ' -f1 > "$out/from-guest.md5"
            wait_for "$out/serial.out" GUEST-SENT 60

            qmp '{"execute":"query-balloon"}' > "$out/balloon-before.reply"
            qmp '{"execute":"balloon","arguments":{"value":268435456}}' > "$out/balloon-set.reply"
            balloon_reaches 268435456 "$out/balloon-inflated.reply"
            echo 'echo "MEMAVAIL-INFLATED=$(awk "/MemTotal/ {print \\$2}" /proc/meminfo)"' >&3
            sleep 2
            qmp '{"execute":"balloon","arguments":{"value":536870912}}' > /dev/null
            balloon_reaches 536870912 "$out/balloon-deflated.reply"
            echo 'echo "MEMAVAIL-DEFLATED=$(awk "/MemTotal/ {print \\$2}" /proc/meminfo)"' >&3
            sleep 2
            # Hot-plug a disk and a NIC, see them in the guest, unplug them. The nested guest is
            # slow to handle ACPI events, so each step waits for what the guest reports on hvc0.
            head -c 16777216 /dev/zero > "$work/hot.raw"
            mkfifo "$work/events.in"
            socat - "UNIX-CONNECT:$sock" < "$work/events.in" > "$out/events.out" &
            events=$!
            exec 4> "$work/events.in"
            echo '{"execute":"qmp_capabilities"}' >&4
            echo '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"hotdisk","file":{"driver":"file","filename":"'"$work/hot.raw"'"}}}' >&4
            echo '{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","drive":"hotdisk","id":"hot0"}}' >&4
            echo 'for i in $(seq 90); do [ -e /sys/block/vda ] && break; sleep 1; done; echo "BLOCK-AFTER-ADD=$(ls /sys/block | tr "\\n" ,)"' >&3
            wait_for "$out/hvc.out" BLOCK-AFTER-ADD 120
            echo '{"execute":"blockdev-del","arguments":{"node-name":"hotdisk"}}' >&4   # refused: hot0 uses it
            echo '{"execute":"netdev_add","arguments":{"type":"bridge","id":"hotnet","br":"jvbr0"}}' >&4
            echo '{"execute":"device_add","arguments":{"driver":"virtio-net-pci","netdev":"hotnet","id":"hotnic","mac":"52:54:00:4a:56:02"}}' >&4
            echo 'for i in $(seq 90); do [ -e /sys/class/net/eth1 ] && break; sleep 1; done; echo "NET-AFTER-ADD=$(ls /sys/class/net | tr "\\n" ,)"' >&3
            wait_for "$out/hvc.out" NET-AFTER-ADD 120
            qmp '{"execute":"query-pci"}' > "$out/query-pci.reply"
            echo '{"execute":"device_del","arguments":{"id":"hot0"}}' >&4
            echo '{"execute":"device_del","arguments":{"id":"hotnic"}}' >&4
            wait_for "$out/events.out" '"hotnic"' 120 && wait_for "$out/events.out" '"hot0"' 60
            # As libvirt does after DEVICE_DELETED: free the back ends; the node name can then be used again.
            echo '{"execute":"blockdev-del","arguments":{"node-name":"hotdisk"}}' >&4
            echo '{"execute":"netdev_del","arguments":{"id":"hotnet"}}' >&4
            echo '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"hotdisk","file":{"driver":"file","filename":"'"$work/hot.raw"'"}}}' >&4
            echo 'echo "BLOCK-AFTER-DEL=$(ls /sys/block | tr "\\n" ,)"; echo "NET-AFTER-DEL=$(ls /sys/class/net | tr "\\n" ,)"' >&3
            echo 'dmesg | grep -i -E "pci|virtio|acpiphp" | tail -n 40' >&3
            sleep 3
            exec 4>&-
            kill $events 2>/dev/null
            echo 'poweroff -f' >&3
            wait_vmm $pid 120; echo $? > "$out/vmm.status"
            exec 3>&-
            ip link del jvbr0
            rm -rf "$work"
            echo LAB-DONE
            """;

    private static final String GUEST_SCRIPT = """
            load-virtio
            ip link set lo up
            ip link set eth0 up
            ip addr add 10.77.0.15/24 dev eth0
            echo "MAC=$(cat /sys/class/net/eth0/address)"
            echo GUEST-NET-UP
            ping -c 3 -W 2 10.77.0.1 > /tmp/ping.out 2>&1 && echo GUEST-PING=ok || echo GUEST-PING=failed
            echo GUEST-LISTENING
            nc -l -p 5000 > /tmp/rx
            echo "GUEST-RX-MD5=$(md5sum /tmp/rx | cut -d' ' -f1)"
            rm /tmp/rx
            head -c 104857600 /dev/urandom > /tmp/tx
            echo "GUEST-TX-MD5=$(md5sum /tmp/tx | cut -d' ' -f1)"
            # root with an empty password, so login lets the user in after the name; the profile says so.
            echo 'root::0:0:root:/root:/bin/sh' > /etc/passwd
            echo 'echo HVC-LOGGED-IN' > /etc/profile
            (setsid getty -L 115200 hvc0 vt100 &)
            while [ ! -f /tmp/go ]; do sleep 0.2; done
            nc 10.77.0.1 5001 < /tmp/tx
            rm /tmp/tx
            echo GUEST-SENT
            while true; do sleep 1; done
            """;

    @BeforeAll
    static void bootGuest() throws Exception {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "no /dev/kvm");
        assumeTrue(Lab.isPrepared(), "lab assets missing: run scripts/setup");
        results = Files.createTempDirectory("jvirt-virtio-net-it-");
        GuestInitramfs.withScripts(Lab.guestInitramfs(), Map.of("net", GUEST_SCRIPT), results.resolve("initrd.cpio.gz"));
        Lab.Result result = Lab.run("export RESULTS=" + results + "\n" + SCRIPT, Duration.ofMinutes(20), results);
        assertTrue(result.output().contains("LAB-DONE"), "lab script did not finish: " + result.output());
    }

    private static String read(String name) throws Exception {
        Path file = results.resolve(name);
        return Files.exists(file) ? Files.readString(file).trim() : "(missing " + name + ")";
    }

    private static String everything() throws Exception {
        return "--- serial ---\n" + read("serial.out") + "\n--- hvc ---\n" + read("hvc.out") + "\n--- vmm stderr ---\n"
                + read("vmm.err") + "\n--- host stderr ---\n" + read("host.err");
    }

    /**
     * The value printed as a whole line KEY=VALUE. The hvc0 terminal also echoes the commands
     * typed into it (KEY=$(...)), so only lines whose value is plain text count; the last wins.
     */
    private static String value(String output, String key) throws Exception {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(key) + "=([^\\s$\"(]*)\\s*$").matcher(output);
        String found = null;
        while (m.find()) {
            found = m.group(1);
        }
        assertTrue(found != null, key + " not in guest output:\n" + everything());
        return found;
    }

    private static long actual(String reply) throws Exception {
        Matcher m = Pattern.compile("\"actual\"\\s*:\\s*(\\d+)").matcher(reply);
        assertTrue(m.find(), "no actual in " + reply + "\n" + everything());
        return Long.parseLong(m.group(1));
    }

    @Test
    void guestAndHostPingEachOtherOverTheBridge() throws Exception {
        String serial = read("serial.out");
        assertEquals("52:54:00:4a:56:01", value(serial, "MAC"));
        assertEquals("ok", value(serial, "GUEST-PING"), everything());
        assertEquals("0", read("host-ping.status"), read("host-ping.out") + "\n" + everything());
    }

    @Test
    void hundredMebibytesEachWayArriveIntact() throws Exception {
        String serial = read("serial.out");
        assertEquals(read("to-guest.md5"), value(serial, "GUEST-RX-MD5"), "host to guest");
        assertEquals(value(serial, "GUEST-TX-MD5"), read("from-guest.md5"), "guest to host");
    }

    @Test
    void loginOnHvc0GivesAShellThatRunsWhatTheHostTypes() throws Exception {
        String hvc = read("hvc.out");
        assertTrue(hvc.contains("guest login:"), "getty's prompt on hvc0: " + everything());
        // login sets LOGNAME from the account it let in (busybox's static id cannot look names up).
        assertEquals("root", value(hvc, "HVC-USER"), everything());
        assertEquals("0", value(hvc, "HVC-UID"), everything());
        assertEquals("/dev/hvc0", value(hvc, "HVC-TTY"), everything());
        assertTrue(hvc.contains("hvc-answer-42"), everything());
        assertEquals("0", read("vmm.status"), everything());
    }

    @Test
    void balloonInflateLowersGuestMemoryAndDeflateRestoresIt() throws Exception {
        long before = actual(read("balloon-before.reply"));
        long inflated = actual(read("balloon-inflated.reply"));
        long deflated = actual(read("balloon-deflated.reply"));
        assertEquals(512L << 20, before);
        assertEquals(256L << 20, inflated, "the guest gave back 256 MiB");
        assertEquals(512L << 20, deflated);
        String hvc = read("hvc.out");
        long totalInflated = Long.parseLong(value(hvc, "MEMAVAIL-INFLATED"));
        long totalDeflated = Long.parseLong(value(hvc, "MEMAVAIL-DEFLATED"));
        assertTrue(totalDeflated - totalInflated > 200_000, "MemTotal kB inflated " + totalInflated + ", deflated " + totalDeflated);
    }

    @Test
    void hotPluggedDiskAndNicAppearInTheGuestAndLeaveOnUnplug() throws Exception {
        String hvc = read("hvc.out");
        String events = read("events.out");
        assertEquals(10, events.split("\"return\"").length - 1, "capabilities, blockdev-add, two device_add, netdev_add, "
                + "the device_dels, then blockdev-del, netdev_del and blockdev-add of the same node answered: " + events);
        assertTrue(events.contains("'hotdisk' is busy"), "blockdev-del of a disk in use is refused: " + events);
        assertTrue(value(hvc, "BLOCK-AFTER-ADD").contains("vda"), everything());
        assertTrue(value(hvc, "NET-AFTER-ADD").contains("eth1"), everything());
        assertTrue(events.contains("\"DEVICE_DELETED\"") && events.contains("\"device\":\"hot0\"")
                && events.contains("\"device\":\"hotnic\""), events + "\n" + everything());
        assertTrue(!value(hvc, "BLOCK-AFTER-DEL").contains("vda"), everything());
        assertTrue(!value(hvc, "NET-AFTER-DEL").contains("eth1"), everything());
    }

    @Test
    void queryPciListsTheVirtioFunctions() throws Exception {
        String reply = read("query-pci.reply");
        assertTrue(reply.contains("\"device\":4161") && reply.contains("\"device\":4163") && reply.contains("\"device\":4165"),
                "virtio-net 0x1041, console 0x1043, balloon 0x1045: " + reply);
        assertTrue(reply.contains("\"vendor\":6900"), reply);
    }
}
