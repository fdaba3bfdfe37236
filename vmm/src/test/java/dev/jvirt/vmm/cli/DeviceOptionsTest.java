package dev.jvirt.vmm.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QEMU's -drive/-netdev/-device/-net/-chardev spellings become the devices a QEMU user expects. */
class DeviceOptionsTest {

    private static VmmOptions parse(String... deviceArgs) throws UsageException {
        List<String> args = new ArrayList<>(List.of("-kernel", "bzImage"));
        args.addAll(List.of(deviceArgs));
        return CommandLine.parse(args.toArray(String[]::new));
    }

    private static String error(String... deviceArgs) {
        return assertThrows(UsageException.class, () -> parse(deviceArgs)).getMessage();
    }

    @Test
    void driveWithIfVirtioIsADiskOnItsOwn() throws Exception {
        VmmOptions options = parse("-drive", "file=/images/root.qcow2,if=virtio,format=qcow2,cache=none,serial=ROOT1");
        DeviceSpec.Block disk = (DeviceSpec.Block) options.devices.getFirst();
        assertEquals(Path.of("/images/root.qcow2"), disk.file());
        assertEquals("qcow2", disk.format());
        assertEquals("none", disk.cache());
        assertEquals("ROOT1", disk.serial());
        assertEquals(-1, disk.slot());
    }

    @Test
    void driveIfNoneIsJoinedToItsDevice() throws Exception {
        VmmOptions options = parse("-drive", "file=data.raw,if=none,id=d0,format=raw,readonly=on",
                "-device", "virtio-blk-pci,drive=d0,addr=0x5,num-queues=2,serial=DATA");
        DeviceSpec.Block disk = (DeviceSpec.Block) options.devices.getFirst();
        assertTrue(disk.readOnly());
        assertEquals(2, disk.queues());
        assertEquals(5, disk.slot());
        assertEquals("DATA", disk.serial());
        assertEquals("writeback", disk.cache(), "QEMU's default cache mode");
    }

    @Test
    void netdevTapWithVirtioNetPci() throws Exception {
        VmmOptions options = parse("-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56");
        assertEquals(new DeviceSpec.Net("n0", "tap0", null, "52:54:00:12:34:56", -1), options.devices.getFirst());
    }

    @Test
    void olderNetNicAndNetTapPairUp() throws Exception {
        VmmOptions options = parse("-net", "nic,model=virtio,macaddr=52:54:00:AB:CD:EF", "-net", "tap,ifname=tap1,script=no");
        DeviceSpec.Net nic = (DeviceSpec.Net) options.devices.getFirst();
        assertEquals("tap1", nic.ifname());
        assertEquals("52:54:00:ab:cd:ef", nic.mac());
    }

    @Test
    void bridgeNetdevNamesTheBridge() throws Exception {
        VmmOptions options = parse("-netdev", "bridge,id=n0,br=br0", "-device", "virtio-net-pci,netdev=n0");
        assertEquals("br0", ((DeviceSpec.Net) options.devices.getFirst()).bridge());
    }

    @Test
    void rngBalloonAndConsole() throws Exception {
        VmmOptions options = parse("-device", "virtio-rng-pci", "-device", "virtio-balloon-pci,id=balloon0",
                "-chardev", "file,id=c0,path=/tmp/hvc0.log", "-device", "virtio-serial-pci", "-device", "virtconsole,chardev=c0");
        assertEquals(3, options.devices.size());
        assertTrue(options.devices.get(0) instanceof DeviceSpec.Rng);
        assertTrue(options.devices.get(1) instanceof DeviceSpec.Balloon);
        DeviceSpec.Console console = (DeviceSpec.Console) options.devices.get(2);
        assertEquals(DeviceSpec.ConsoleBackend.FILE, console.backend());
        assertEquals(Path.of("/tmp/hvc0.log"), console.path());
    }

    @Test
    void mistakesAreNamed() {
        assertTrue(error("-drive", "if=virtio").contains("file= is required"));
        assertTrue(error("-drive", "file=a.img,if=ide").contains("if=ide is not supported"));
        assertTrue(error("-drive", "file=a.img,format=vmdk").contains("format=vmdk is not supported"));
        assertTrue(error("-drive", "file=a.img,cache=sometimes").contains("cache=sometimes"));
        assertTrue(error("-device", "virtio-blk-pci,drive=missing").contains("drive 'missing' is not defined"));
        assertTrue(error("-drive", "file=a,if=none,id=d", "-device", "virtio-blk-pci,drive=d", "-device", "virtio-blk-pci,drive=d")
                .contains("already used"));
        assertTrue(error("-netdev", "user,id=n0").contains("user networking"));
        assertTrue(error("-netdev", "tap,id=n0,script=/etc/qemu-ifup", "-device", "virtio-net-pci,netdev=n0").contains("script="));
        assertTrue(error("-netdev", "tap,id=n0").contains("not used by any -device"));
        assertTrue(error("-netdev", "tap,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=01:00:00:00:00:01").contains("multicast"));
        assertTrue(error("-device", "e1000").contains("'e1000' is not supported"));
        assertTrue(error("-device", "virtio-rng-pci,addr=0").contains("slot must be 1-31"));
        assertTrue(error("-device", "virtio-rng-pci,addr=3", "-device", "virtio-balloon-pci,addr=3").contains("used twice"));
        assertTrue(error("-chardev", "stdio,id=c", "-device", "virtconsole,chardev=c").contains("virtio-serial-pci"));
        assertTrue(error("-net", "nic,model=virtio").contains("no -net tap"));
        assertTrue(error("-blockdev", "driver=qcow2").contains("use -drive"));
    }

    @Test
    void removedBackEndFreesItsIdForTheNextHotPlug() throws Exception {
        DeviceSpecs specs = new DeviceSpecs();
        specs.drive("file=a.raw,if=none,id=hot,format=raw");
        specs.device("virtio-blk-pci,drive=hot,id=disk0");
        specs.takeAdded();
        assertTrue(error(specs, "file=b.raw,if=none,id=hot,format=raw").contains("id 'hot' is defined twice"));

        assertTrue(specs.removeBackend("drive", "hot"));
        specs.drive("file=b.raw,if=none,id=hot,format=raw");
        specs.device("virtio-blk-pci,drive=hot,id=disk1");
        assertEquals(Path.of("b.raw"), ((DeviceSpec.Block) specs.takeAdded().getFirst()).file());
        assertTrue(!specs.removeBackend("netdev", "hot"), "no netdev of that name");
    }

    private static String error(DeviceSpecs specs, String drive) {
        return assertThrows(UsageException.class, () -> specs.drive(drive)).getMessage();
    }
}
