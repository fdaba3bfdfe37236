package dev.jvirt.daemon;

import dev.jvirt.lab.TinyGuest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Domains with virtio disks and NICs through the real virsh: jvirtd (in a private network
 * namespace, so its bridges and taps never touch the host's) starts a tiny guest whose jvirt-vmm
 * opens the disk images and the taps, even though the guest never drives them; dumpxml, domblklist,
 * domiflist, domblkinfo and dommemstat show them, and attach-device/detach-device hot-plug more.
 */
class DomainDevicesIT {

    @TempDir
    Path dir;

    private Process namespaceHolder;

    @BeforeAll
    static void needKvmVirshAndRoot() throws Exception {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "no /dev/kvm");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/virsh")), "virsh not installed");
        assumeTrue(JvirtdProcess.run("unshare", "-n", "true").status() == 0, "cannot create network namespaces (needs root)");
    }

    @BeforeEach
    void holdANamespace() throws Exception {
        namespaceHolder = new ProcessBuilder("unshare", "-n", "sleep", "600").start();
        Thread.sleep(200);
        inNamespace("ip", "link", "set", "lo", "up");
        inNamespace("ip", "link", "add", "jvbr7", "type", "bridge");
        inNamespace("ip", "link", "set", "jvbr7", "up");
    }

    @AfterEach
    void releaseTheNamespace() throws Exception {
        JvirtdProcess.killLeftoverVms();
        namespaceHolder.destroyForcibly(); // its bridge and any tap left go with it
    }

    private List<String> inNamespace() {
        return List.of("nsenter", "-t", Long.toString(namespaceHolder.pid()), "-n");
    }

    private String inNamespace(String... command) throws Exception {
        List<String> full = new ArrayList<>(inNamespace());
        full.addAll(List.of(command));
        JvirtdProcess.Result result = JvirtdProcess.run(full.toArray(String[]::new));
        return result.stdout() + result.stderr();
    }

    private static JvirtdProcess.Result ok(JvirtdProcess.Result result) {
        assertEquals(0, result.status(), result.stdout() + result.stderr());
        return result;
    }

    private Path file(String name, String content) throws Exception {
        Path file = dir.resolve(name);
        Files.writeString(file, content);
        return file;
    }

    /** The files jvirt-vmm holds open, from /proc/PID/fd. */
    private static List<String> openFiles(Path state, String domain) throws Exception {
        long pid = Long.parseLong(Files.readString(state.resolve("run/" + domain + ".pid")).trim().split(" ")[0]);
        List<String> open = new ArrayList<>();
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    open.add(Files.readSymbolicLink(fd).toString());
                } catch (java.io.IOException e) {
                    // closed meanwhile
                }
            }
        }
        return open;
    }

    private static String group(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), regex + " not in:\n" + text);
        return m.group(1);
    }

    @Test
    void diskAndBridgedNicStartShowUpAndHotplug() throws Exception {
        Path state = dir.resolve("state");
        Path image = dir.resolve("data.raw");
        try (var raf = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(8 << 20);
        }
        Path kernel = TinyGuest.elf(dir, "counter.elf", TinyGuest.COUNTER);
        Path xml = file("guest.xml", """
                <domain type='kvm'>
                  <name>devices</name>
                  <memory unit='MiB'>16</memory>
                  <os><type>hvm</type><kernel>%s</kernel></os>
                  <devices>
                    <disk type='file' device='disk'>
                      <driver name='qemu' type='raw' cache='writeback'/>
                      <source file='%s'/>
                      <target dev='vda' bus='virtio'/>
                      <serial>JVIRT-DATA</serial>
                    </disk>
                    <interface type='bridge'><source bridge='jvbr7'/><model type='virtio'/></interface>
                    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
                  </devices>
                </domain>
                """.formatted(kernel, image));
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state, inNamespace())) {
            String uri = jvirtd.unixUri(); // the TCP listener is in the namespace; the socket file is not
            ok(jvirtd.virsh(uri, "define", xml.toString()));
            String inactive = ok(jvirtd.virsh(uri, "dumpxml", "--inactive", "devices")).stdout();
            String mac = group(inactive, "<mac address=\"(52:54:00:[0-9a-f:]{8})\"/>");
            assertTrue(inactive.contains("<memballoon model=\"virtio\"/>"), "libvirt's default balloon is added:\n" + inactive);

            ok(jvirtd.virsh(uri, "start", "devices"));
            String live = ok(jvirtd.virsh(uri, "dumpxml", "devices")).stdout();
            String tap = group(live, "<target dev=\"(vnet\\d+)\"/>");
            assertTrue(live.contains("<alias name=\"virtio-disk0\"/>") && live.contains("<alias name=\"net0\"/>")
                    && live.contains("<alias name=\"balloon0\"/>") && live.contains("<alias name=\"rng0\"/>"), live);
            assertTrue(live.matches("(?s).*<address [^>]*slot=\"0x0[1-9a-f]\"[^>]*/>.*") && live.contains("type=\"pci\""),
                    "the slots jvirt-vmm chose are shown: " + live);
            assertTrue(inNamespace("ip", "-o", "link", "show", tap).contains("master jvbr7"), "the tap is on the bridge");
            assertTrue(openFiles(state, "devices").contains(image.toString()), "jvirt-vmm has the image open");

            assertEquals(List.of("vda", image.toString()), List.of(ok(jvirtd.virshQuiet(uri, "domblklist", "devices")).stdout().trim().split("\\s+")));
            String interfaces = ok(jvirtd.virshQuiet(uri, "domiflist", "devices")).stdout().trim();
            assertEquals(List.of(tap, "bridge", "jvbr7", "virtio", mac), List.of(interfaces.split("\\s+")));
            String blockInfo = ok(jvirtd.virsh(uri, "domblkinfo", "devices", "vda")).stdout();
            assertTrue(blockInfo.matches("(?s)Capacity:\\s+8388608\\s.*"), blockInfo);

            String memory = ok(jvirtd.virsh(uri, "dommemstat", "devices")).stdout();
            assertTrue(memory.contains("actual 16384") && memory.matches("(?s).*rss \\d+.*"), memory);
            ok(jvirtd.virsh(uri, "setmem", "devices", "12M", "--live")); // the tiny guest never inflates: only the request is checked
            JvirtdProcess.Result tooMuch = jvirtd.virsh(uri, "setmem", "devices", "64M", "--live");
            assertEquals(1, tooMuch.status());
            assertTrue(tooMuch.stderr().contains("cannot set memory higher than max memory"), tooMuch.stderr());

            Path second = dir.resolve("second.raw");
            Files.write(second, new byte[1 << 20]);
            Path disk = file("disk.xml", "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" + second
                    + "'/><target dev='vdb' bus='virtio'/></disk>");
            ok(jvirtd.virsh(uri, "attach-device", "devices", disk.toString(), "--live"));
            assertTrue(ok(jvirtd.virshQuiet(uri, "domblklist", "devices")).stdout().matches("(?s).*vdb\\s+" + second + ".*"));
            assertTrue(openFiles(state, "devices").contains(second.toString()), "the hot-plugged image is open");
            assertFalse(ok(jvirtd.virsh(uri, "dumpxml", "--inactive", "devices")).stdout().contains("vdb"), "--live leaves the definition alone");

            Path nic = file("nic.xml", "<interface type='bridge'><mac address='52:54:00:77:00:02'/><source bridge='jvbr7'/>"
                    + "<model type='virtio'/></interface>");
            ok(jvirtd.virsh(uri, "attach-device", "devices", nic.toString(), "--live"));
            String nics = ok(jvirtd.virshQuiet(uri, "domiflist", "devices")).stdout();
            String hotTap = group(nics, "(vnet\\d+)\\s+bridge\\s+jvbr7\\s+virtio\\s+52:54:00:77:00:02");
            assertTrue(inNamespace("ip", "-o", "link", "show", hotTap).contains("master jvbr7"), "the hot-plugged tap is on the bridge");

            // The tiny guest has no ACPI driver to eject anything: like libvirt, detach returns after its wait
            // and the device stays until the guest lets go.
            long before = System.nanoTime();
            ok(jvirtd.virsh(uri, "detach-device", "devices", disk.toString(), "--live"));
            assertTrue(System.nanoTime() - before >= 4_000_000_000L, "detach waited for DEVICE_DELETED");
            assertTrue(ok(jvirtd.virshQuiet(uri, "domblklist", "devices")).stdout().contains("vdb"), "not released, so still there");

            ok(jvirtd.virsh(uri, "attach-device", "devices", nic.toString(), "--config"));
            assertTrue(ok(jvirtd.virsh(uri, "dumpxml", "--inactive", "devices")).stdout().contains("52:54:00:77:00:02"), "--config changes the definition");
            JvirtdProcess.Result model = jvirtd.virsh(uri, "attach-device", "devices",
                    file("e1000.xml", "<interface type='bridge'><source bridge='jvbr7'/><model type='e1000'/></interface>").toString(), "--live");
            assertEquals(1, model.status());
            assertTrue(model.stderr().contains("interface model 'e1000' is not supported"), model.stderr());

            ok(jvirtd.virsh(uri, "destroy", "devices"));
            assertEquals("", inNamespace("ip", "-o", "link", "show", "master", "jvbr7").trim(), "the taps went with the VMM");
        }
    }

    @Test
    void networkInterfacesUseTheNetworksBridgeWhileItIsActive() throws Exception {
        Path state = dir.resolve("state");
        Path kernel = TinyGuest.elf(dir, "counter.elf", TinyGuest.COUNTER);
        Path network = file("net.xml", "<network><name>lan</name><forward mode='bridge'/><bridge name='jvbr7'/></network>");
        Path xml = file("guest.xml", """
                <domain type='kvm'>
                  <name>netguest</name>
                  <memory unit='MiB'>16</memory>
                  <os><type>hvm</type><kernel>%s</kernel></os>
                  <devices>
                    <interface type='network'><source network='lan'/><model type='virtio'/></interface>
                    <memballoon model='none'/>
                  </devices>
                </domain>
                """.formatted(kernel));
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state, inNamespace())) {
            String uri = jvirtd.unixUri(); // the TCP listener is in the namespace; the socket file is not
            ok(jvirtd.virsh(uri, "net-define", network.toString()));
            ok(jvirtd.virsh(uri, "define", xml.toString()));
            JvirtdProcess.Result inactive = jvirtd.virsh(uri, "start", "netguest");
            assertEquals(1, inactive.status());
            assertTrue(inactive.stderr().contains("network 'lan' is not active"), inactive.stderr());

            ok(jvirtd.virsh(uri, "net-start", "lan"));
            ok(jvirtd.virsh(uri, "start", "netguest"));
            String live = ok(jvirtd.virsh(uri, "dumpxml", "netguest")).stdout();
            String tap = group(live, "<target dev=\"(vnet\\d+)\"/>");
            assertFalse(live.contains("<memballoon model=\"virtio\""), "model='none' means no balloon");
            assertTrue(inNamespace("ip", "-o", "link", "show", tap).contains("master jvbr7"));
            String interfaces = ok(jvirtd.virshQuiet(uri, "domiflist", "netguest")).stdout().trim();
            assertTrue(interfaces.matches(tap + "\\s+network\\s+lan\\s+virtio\\s+52:54:00:\\S+"), interfaces);
            JvirtdProcess.Result noBalloon = jvirtd.virsh(uri, "setmem", "netguest", "8M", "--live");
            assertEquals(1, noBalloon.status());
            assertTrue(noBalloon.stderr().contains("without the balloon device"), noBalloon.stderr());
            ok(jvirtd.virsh(uri, "destroy", "netguest"));
            assertEquals("", inNamespace("ip", "-o", "link", "show", "master", "jvbr7").trim(), "the tap went with the VMM");
        }
    }
}
