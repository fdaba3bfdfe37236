package dev.jvirt.daemon.vm;

import dev.jvirt.daemon.domain.DomainDefinition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VmmCommandTest {

    @TempDir
    Path dir;

    private static final DeviceResources RESOURCES = new DeviceResources() {
        @Override
        public VolumeSource volume(String pool, String volume) throws VmStartException {
            if (!pool.equals("images")) {
                throw new VmStartException("Storage pool not found: no storage pool with matching name '" + pool + "'");
            }
            return new VolumeSource(Path.of("/pools/images/" + volume), "qcow2");
        }

        @Override
        public String networkBridge(String network) throws VmStartException {
            if (!network.equals("default")) {
                throw new VmStartException("Requested operation is not valid: network '" + network + "' is not active");
            }
            return "virbr0";
        }
    };

    private static String domain(String devices) {
        return """
                <domain type='kvm'>
                  <name>guest</name>
                  <memory unit='MiB'>256</memory>
                  <os><type>hvm</type><kernel>/boot/vmlinuz</kernel></os>
                  <devices>%s</devices>
                </domain>
                """.formatted(devices);
    }

    /** The command line and live definition for a domain, with vnet0 already taken on the "host". */
    private record Built(List<String> command, DomainDefinition live) { }

    private Built build(String devices) throws Exception {
        Path procNetDev = dir.resolve("dev");
        Files.writeString(procNetDev, "Inter-|   Receive\n face |bytes\n    lo: 0 0\n vnet0: 0 0\n");
        TapNames taps = new TapNames(procNetDev);
        List<String> taken = new ArrayList<>();
        DomainDefinition live = LiveDefinition.prepare(DomainDefinition.parse(domain(devices)), RESOURCES, taps, true, taken);
        List<String> command = VmmCommand.build(Path.of("/bin/jvirt-vmm"), live, Path.of("/run/q"), Path.of("/run/c"), false, RESOURCES);
        return new Built(command, live);
    }

    private static String after(List<String> command, String option, int nth) {
        int seen = 0;
        for (int i = 0; i < command.size() - 1; i++) {
            if (command.get(i).equals(option) && seen++ == nth) {
                return command.get(i + 1);
            }
        }
        throw new AssertionError("no " + option + " #" + nth + " in " + command);
    }

    @Test
    void resetsEndTheProcessSoTheDaemonAppliesOnReboot() throws Exception {
        assertTrue(build("").command().contains("-no-reboot"));
    }

    @Test
    void fileDiskBecomesADriveAndAVirtioBlkDevice() throws Exception {
        Built built = build("""
                <disk type='file' device='disk'>
                  <driver name='qemu' type='qcow2' cache='none' discard='unmap'/>
                  <source file='/images/a,b.qcow2'/>
                  <target dev='vdb' bus='virtio'/>
                  <readonly/>
                  <serial>DATA-1</serial>
                </disk>""");
        assertEquals("file=/images/a,,b.qcow2,if=none,id=drive-virtio-disk1,format=qcow2,cache=none,readonly=on,discard=unmap",
                after(built.command(), "-drive", 0), "commas in paths are doubled, as QEMU's option syntax needs");
        assertEquals("virtio-blk-pci,drive=drive-virtio-disk1,id=virtio-disk1,serial=DATA-1", after(built.command(), "-device", 0));
        assertTrue(built.live().toXml().contains("<alias name=\"virtio-disk1\"/>"), built.live().toXml());
    }

    @Test
    void diskWithoutDriverTypeIsRawAsInLibvirt() throws Exception {
        Built built = build("<disk type='file'><source file='/d.img'/><target dev='vda'/></disk>");
        assertEquals("file=/d.img,if=none,id=drive-virtio-disk0,format=raw", after(built.command(), "-drive", 0));
    }

    @Test
    void volumeDiskIsResolvedThroughItsPool() throws Exception {
        Built built = build("<disk type='volume' device='disk'><source pool='images' volume='root.qcow2'/><target dev='vda' bus='virtio'/></disk>");
        assertEquals("file=/pools/images/root.qcow2,if=none,id=drive-virtio-disk0,format=qcow2", after(built.command(), "-drive", 0));
        VmStartException missing = assertThrows(VmStartException.class,
                () -> build("<disk type='volume'><source pool='nopool' volume='x'/><target dev='vda'/></disk>"));
        assertTrue(missing.getMessage().contains("no storage pool with matching name 'nopool'"), missing.getMessage());
    }

    @Test
    void interfacesGetTapsOnTheirBridges() throws Exception {
        Built built = build("""
                <interface type='bridge'><mac address='52:54:00:aa:bb:01'/><source bridge='br0'/><model type='virtio'/></interface>
                <interface type='network'><mac address='52:54:00:aa:bb:02'/><source network='default'/></interface>
                <interface type='ethernet'><mac address='52:54:00:aa:bb:03'/><target dev='mytap'/><model type='virtio'/></interface>""");
        List<String> command = built.command();
        assertEquals("bridge,id=hostnet0,br=br0,ifname=vnet1", after(command, "-netdev", 0), "vnet0 is taken on the host");
        assertEquals("virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:aa:bb:01", after(command, "-device", 0));
        assertEquals("bridge,id=hostnet1,br=virbr0,ifname=vnet2", after(command, "-netdev", 1), "a network's bridge");
        assertEquals("tap,id=hostnet2,ifname=mytap,script=no", after(command, "-netdev", 2), "ethernet: the named tap alone");
        assertEquals("virtio-net-pci,netdev=hostnet2,id=net2,mac=52:54:00:aa:bb:03", after(command, "-device", 2));
        String live = built.live().toXml();
        assertTrue(live.contains("<target dev=\"vnet1\"/>") && live.contains("<target dev=\"vnet2\"/>"), live);
        assertTrue(live.contains("<source network=\"default\"/>"), "virsh domiflist shows the network's name: " + live);
    }

    @Test
    void inactiveNetworkIsRefused() {
        VmStartException e = assertThrows(VmStartException.class,
                () -> build("<interface type='network'><source network='other'/></interface>"));
        assertEquals("Requested operation is not valid: network 'other' is not active", e.getMessage());
    }

    @Test
    void balloonIsAddedByDefaultAndNoneMeansNone() throws Exception {
        Built plain = build("");
        assertEquals("virtio-balloon-pci,id=balloon0", after(plain.command(), "-device", 0), "libvirt adds a virtio balloon for KVM");
        assertTrue(plain.live().toXml().contains("<memballoon model=\"virtio\">"), plain.live().toXml());
        Built none = build("<memballoon model='none'/>");
        assertFalse(none.command().contains("-device"), none.command().toString());
    }

    @Test
    void rngAndPciAddressesAreHonoured() throws Exception {
        Built built = build("""
                <rng model='virtio'><backend model='random'>/dev/urandom</backend>
                  <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></rng>""");
        assertEquals("virtio-rng-pci,id=rng0,addr=0x7", after(built.command(), "-device", 0));
    }

    @Test
    void whatJvirtCannotRunIsNamed() {
        assertEquals("interface model 'e1000' is not supported (jvirt has virtio NICs: <model type='virtio'/>)", startError(
                "<interface type='bridge'><source bridge='br0'/><model type='e1000'/></interface>"));
        assertTrue(startError("<disk type='file'><source file='/d'/><target dev='sda' bus='sata'/></disk>")
                .startsWith("disk bus 'sata' of target 'sda' is not supported"));
        assertTrue(startError("<disk type='file'><source file='/d'/><target dev='hda'/></disk>").startsWith("disk bus 'ide'"));
        assertTrue(startError("<disk type='file' device='cdrom'><source file='/d.iso'/><target dev='vda'/></disk>")
                .startsWith("disk device 'cdrom' is not supported"));
        assertEquals("rng model 'egd' is not supported (virtio is)", startError("<rng model='egd'/>"));
        assertEquals("unsupported configuration: device <hostdev> is not supported by jvirt-vmm (remove it from the definition to start the domain)",
                startError("<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>"));
        assertTrue(startError("<filesystem type='mount'><source dir='/srv'/><target dir='share'/></filesystem>").contains("device <filesystem>"));
        assertTrue(startError("<disk type='block'><source dev='/dev/sdb'/><target dev='vda'/></disk>")
                .startsWith("disk type 'block' is not supported"));
    }

    private String startError(String devices) {
        return assertThrows(VmStartException.class, () -> build(devices)).getMessage();
    }

    /** The command line for a whole domain XML, its devices given aliases as at start. */
    private List<String> commandFor(String xml, boolean paused) throws Exception {
        DomainDefinition live = LiveDefinition.prepare(DomainDefinition.parse(xml), RESOURCES, new TapNames(dir.resolve("none")), true, new ArrayList<>());
        return VmmCommand.build(Path.of("/bin/jvirt-vmm"), live, Path.of("/run/q"), Path.of("/run/c"), paused, RESOURCES);
    }

    @Test
    void osCpuAndMemoryOfTheDefinitionReachTheCommandLine() throws Exception {
        List<String> command = commandFor("""
                <domain type='kvm'><name>os</name><memory unit='GiB'>1</memory><vcpu>3</vcpu>
                  <os><type>hvm</type><kernel>/k</kernel><initrd>/i</initrd><cmdline>console=ttyS0 root=/dev/vda</cmdline></os>
                  <cpu mode='custom'><model>kvm64</model></cpu></domain>""", true);
        assertEquals("1024M", after(command, "-m", 0));
        assertEquals("3", after(command, "-smp", 0));
        assertEquals("kvm64", after(command, "-cpu", 0));
        assertEquals("/k", after(command, "-kernel", 0));
        assertEquals("/i", after(command, "-initrd", 0));
        assertEquals("console=ttyS0 root=/dev/vda", after(command, "-append", 0));
        assertTrue(command.contains("-S"), "start --paused");
        assertEquals("host", after(commandFor(domain("").replace("<os>", "<cpu mode='host-passthrough'/><os>"), false), "-cpu", 0));
        String skylake = domain("").replace("<os>", "<cpu mode='custom'><model>Skylake-Client</model></cpu><os>");
        assertTrue(assertThrows(VmStartException.class, () -> commandFor(skylake, false)).getMessage()
                .startsWith("CPU model 'Skylake-Client' is not supported"));
        assertTrue(assertThrows(VmStartException.class, () -> commandFor(domain("").replace("<os>", "<vcpu current='1'>2</vcpu><os>"), false))
                .getMessage().startsWith("unsupported configuration: <vcpu current='1'> differs from the 2 vCPUs"));
        assertEquals("2", after(commandFor(domain("").replace("<os>", "<vcpu current='2'>2</vcpu><os>"), false), "-smp", 0));
        String huge = domain("").replace("<os>", "<memoryBacking><hugepages/></memoryBacking><os>");
        if (Files.isDirectory(Path.of("/dev/hugepages"))) {
            assertEquals("/dev/hugepages", after(commandFor(huge, false), "-mem-path", 0));
        } else {
            assertTrue(assertThrows(VmStartException.class, () -> commandFor(huge, false)).getMessage()
                    .contains("asks for hugepages, but /dev/hugepages is not mounted"));
        }
    }
}
