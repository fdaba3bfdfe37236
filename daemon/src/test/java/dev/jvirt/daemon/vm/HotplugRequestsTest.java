package dev.jvirt.daemon.vm;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jvirt.daemon.domain.DomainDefinition;
import dev.jvirt.daemon.domain.DomainDevices;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class HotplugRequestsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static DomainDefinition live(String devices) throws Exception {
        return DomainDefinition.parse("<domain><name>d</name><memory>65536</memory><devices>" + devices + "</devices></domain>");
    }

    @Test
    void diskIsABlockdevThenAVirtioBlkDevice() throws Exception {
        DomainDevices.Disk disk = live("""
                <disk type='file'><driver type='qcow2'/><source file='/img/b.qcow2'/><target dev='vdb'/><readonly/>
                <serial>HOT</serial><alias name='virtio-disk1'/></disk>""").disks().getFirst();
        List<HotplugRequests.Request> requests = HotplugRequests.disk(disk, DeviceResources.NONE, 3);
        assertEquals("blockdev-add", requests.get(0).command());
        assertEquals(JSON.readTree("""
                {"driver":"qcow2","node-name":"drive-virtio-disk1-3","file":{"driver":"file","filename":"/img/b.qcow2"},"read-only":true}"""),
                requests.get(0).arguments());
        assertEquals("device_add", requests.get(1).command());
        assertEquals(JSON.readTree("""
                {"driver":"virtio-blk-pci","id":"virtio-disk1","drive":"drive-virtio-disk1-3","serial":"HOT"}"""), requests.get(1).arguments());
    }

    @Test
    void nicIsANetdevThenAVirtioNetDevice() throws Exception {
        DomainDevices.Nic bridged = live("""
                <interface type='bridge'><mac address='52:54:00:00:00:09'/><source bridge='br0'/><target dev='vnet4'/>
                <alias name='net1'/></interface>""").interfaces().getFirst();
        List<HotplugRequests.Request> requests = HotplugRequests.nic(bridged, DeviceResources.NONE, 2);
        assertEquals(JSON.readTree("{\"id\":\"hostnet1-2\",\"ifname\":\"vnet4\",\"type\":\"bridge\",\"br\":\"br0\"}"), requests.get(0).arguments());
        assertEquals(JSON.readTree("""
                {"driver":"virtio-net-pci","id":"net1","netdev":"hostnet1-2","mac":"52:54:00:00:00:09"}"""), requests.get(1).arguments());
        DomainDevices.Nic tap = live("""
                <interface type='ethernet'><mac address='52:54:00:00:00:0a'/><target dev='tap7'/><alias name='net0'/></interface>""")
                .interfaces().getFirst();
        assertEquals(JSON.readTree("{\"id\":\"hostnet0-1\",\"ifname\":\"tap7\",\"type\":\"tap\",\"script\":\"no\"}"),
                HotplugRequests.nic(tap, DeviceResources.NONE, 1).get(0).arguments());
    }

    @Test
    void guestStatsBecomeLibvirtTagsInKibibytes() throws Exception {
        List<long[]> stats = MemoryStats.fromGuestStats(JSON.readTree("""
                {"stats":{"stat-swap-in":4096,"stat-swap-out":-1,"stat-major-faults":7,"stat-free-memory":104857600,
                 "stat-total-memory":268435456,"stat-available-memory":209715200,"stat-disk-caches":1048576,"stat-oom-kills":0},
                 "last-update":1700000000}"""));
        assertEquals(List.of("0=4", "2=7", "4=102400", "5=262144", "8=204800", "10=1024", "9=1700000000"),
                stats.stream().map(s -> s[0] + "=" + s[1]).toList(), "unset (-1) and unknown statistics are left out");
        assertEquals(List.of(), MemoryStats.fromGuestStats(JSON.readTree("{\"stats\":{},\"last-update\":0}")), "nothing before the first poll");
    }
}
