package dev.jvirt.daemon.domain;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DomainDevicesTest {

    private static final String DOMAIN = """
            <domain type='kvm'>
              <name>d</name>
              <memory unit='MiB'>256</memory>
              <devices>
                <disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/></disk>
                <interface type='bridge'><source bridge='br0'/></interface>
              </devices>
            </domain>
            """;

    @Test
    void aMacIsGeneratedOnceAndKeptAsLibvirtDoes() throws Exception {
        DomainDefinition defined = DomainDefinition.parse(DOMAIN);
        String mac = defined.interfaces().getFirst().mac();
        assertTrue(mac.matches("52:54:00(:[0-9a-f]{2}){3}"), mac);
        DomainDefinition reloaded = DomainDefinition.parse(defined.toXml());
        assertEquals(mac, reloaded.interfaces().getFirst().mac(), "the generated address is written into the definition");
    }

    @Test
    void aVirtioBalloonIsAddedUnlessNoneIsAsked() throws Exception {
        DomainDefinition defined = DomainDefinition.parse(DOMAIN);
        assertNotNull(defined.balloon());
        assertTrue(defined.toXml().contains("<memballoon model=\"virtio\"/>"), defined.toXml());
        DomainDefinition none = DomainDefinition.parse(DOMAIN.replace("</devices>", "<memballoon model='none'/></devices>"));
        assertNull(none.balloon());
        DomainDefinition noDevices = DomainDefinition.parse("<domain><name>x</name><memory>1024</memory></domain>");
        assertNotNull(noDevices.balloon(), "a domain without <devices> gets them, with the balloon");
        DomainDefinition period = DomainDefinition.parse(DOMAIN.replace("</devices>",
                "<memballoon model='virtio'><stats period='10'/></memballoon></devices>"));
        assertEquals(10, period.balloon().statsPeriod());
    }

    @Test
    void disksAndInterfacesAreRead() throws Exception {
        DomainDefinition defined = DomainDefinition.parse(DOMAIN.replace("<disk type='file' device='disk'>",
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='writeback'/><readonly/><serial>S1</serial>"));
        DomainDevices.Disk disk = defined.disks().getFirst();
        assertEquals(List.of("qcow2", "writeback", "/a.img", "vda", "S1"), List.of(disk.format(), disk.cache(), disk.file(), disk.target(), disk.serial()));
        assertTrue(disk.readOnly());
        assertEquals("virtio-disk0", disk.defaultAlias());
        assertEquals(27, DomainDevices.diskIndex("vdab"), "libvirt's virDiskNameToIndex: aa is 26");
        assertEquals("br0", defined.interfaces().getFirst().bridge());
    }

    @Test
    void devicesAreAttachedAndDetachedByTargetAndMac() throws Exception {
        DomainDefinition defined = DomainDefinition.parse(DOMAIN);
        DomainDefinition withDisk = defined.withDevice("<disk type='file'><source file='/b.img'/><target dev='vdb'/></disk>");
        assertEquals(List.of("vda", "vdb"), withDisk.disks().stream().map(DomainDevices.Disk::target).toList());
        DomainXmlException twice = assertThrows(DomainXmlException.class,
                () -> withDisk.withDevice("<disk type='file'><source file='/c.img'/><target dev='vdb'/></disk>"));
        assertEquals("target vdb already exists", twice.getMessage());
        DomainDefinition withNic = withDisk.withDevice("<interface type='bridge'><source bridge='br1'/></interface>");
        assertEquals(2, withNic.interfaces().size());
        String secondMac = withNic.interfaces().get(1).mac();
        assertTrue(secondMac.startsWith("52:54:00:"), "an attached interface gets a MAC too");
        assertTrue(withNic.lastDeviceXml("interface").contains(secondMac));

        DomainDefinition.Removal removal = withNic.withoutDevice("<disk type='file'><source file='/b.img'/><target dev='vdb'/></disk>");
        assertEquals(List.of("vda"), removal.definition().disks().stream().map(DomainDevices.Disk::target).toList());
        DomainDefinition oneNic = withNic.withoutDevice("<interface type='bridge'><mac address='" + secondMac + "'/></interface>").definition();
        assertEquals(List.of("br0"), oneNic.interfaces().stream().map(DomainDevices.Nic::bridge).toList());
        assertEquals("disk vdz not found", assertThrows(DomainXmlException.class,
                () -> defined.withoutDevice("<disk><target dev='vdz'/></disk>")).getMessage());
        assertTrue(assertThrows(DomainXmlException.class, () -> withNic.withoutDevice("<interface type='bridge'/>"))
                .getMessage().startsWith("several interfaces"));
        assertTrue(assertThrows(DomainXmlException.class, () -> defined.withDevice("<rng model='virtio'/>"))
                .getMessage().startsWith("attaching or detaching <rng> is not supported"));
    }

    @Test
    void aliasesNameDevicesForRemovalAndMemoryFollowsTheBalloon() throws Exception {
        DomainDefinition live = DomainDefinition.parse(DOMAIN.replace("<target dev='vda' bus='virtio'/>",
                "<target dev='vda' bus='virtio'/><alias name='virtio-disk0'/>"));
        assertTrue(live.hasAlias("virtio-disk0"));
        DomainDefinition without = live.withoutAlias("virtio-disk0");
        assertFalse(without.hasAlias("virtio-disk0"));
        assertEquals(List.of(), without.disks());
        assertEquals(131072, live.withCurrentMemory(131072).currentMemoryKiB());
        assertEquals(262144, live.withCurrentMemory(999999).currentMemoryKiB(), "never above the maximum");
    }
}
