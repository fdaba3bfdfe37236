package dev.jvirt.daemon.domain;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DomainDefinitionTest {

    private static final String FULL = """
            <domain type='kvm'>
              <name>full</name>
              <title>A title</title>
              <description>kept as given</description>
              <memory unit='GiB'>1</memory>
              <currentMemory unit='MiB'>512</currentMemory>
              <vcpu placement='static'>2</vcpu>
              <memoryBacking><hugepages/></memoryBacking>
              <os><type arch='x86_64' machine='pc'>hvm</type><kernel>/k</kernel><initrd>/i</initrd><cmdline>console=ttyS0</cmdline><boot dev='hd'/></os>
              <features><acpi/><apic/></features>
              <cpu mode='custom'><model>kvm64</model></cpu>
              <clock offset='utc'/>
              <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>preserve</on_crash>
              <devices>
                <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source file='/d.qcow2'/><target dev='vda' bus='virtio'/></disk>
                <interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br0'/><model type='virtio'/></interface>
                <serial type='pty'/><console type='pty'/><rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
                <memballoon model='virtio'/>
              </devices>
            </domain>
            """;

    @Test
    void everyPartOfTheIssuesDomainIsAcceptedAndKept() throws Exception {
        DomainDefinition domain = DomainDefinition.parse(FULL);
        assertEquals(1 << 20, domain.memoryKiB());
        assertEquals(512 << 10, domain.currentMemoryKiB());
        assertEquals(2, domain.vcpus());
        assertEquals(new DomainDefinition.Boot("/k", "/i", "console=ttyS0"), domain.boot());
        assertEquals("kvm64", domain.cpuModel());
        assertTrue(domain.hugepages());
        assertEquals("preserve", domain.lifecycleAction("crash"));
        String xml = domain.toXml();
        assertTrue(xml.contains("<description>kept as given</description>") && xml.contains("cache=\"none\"")
                && xml.contains("<backend model=\"random\">/dev/urandom</backend>"), xml);
        for (String kept : List.of("<title>A title</title>", "<memory unit=\"GiB\">1</memory>", "<currentMemory unit=\"MiB\">512</currentMemory>",
                "<vcpu placement=\"static\">2</vcpu>", "<hugepages/>", "<type arch=\"x86_64\" machine=\"pc\">hvm</type>", "<kernel>/k</kernel>",
                "<initrd>/i</initrd>", "<cmdline>console=ttyS0</cmdline>", "<boot dev=\"hd\"/>", "<acpi/>", "<apic/>", "<cpu mode=\"custom\">",
                "<model>kvm64</model>", "<clock offset=\"utc\"/>", "<on_poweroff>destroy</on_poweroff>", "<on_reboot>restart</on_reboot>",
                "<on_crash>preserve</on_crash>", "type=\"qcow2\"", "<source file=\"/d.qcow2\"/>", "<target bus=\"virtio\" dev=\"vda\"/>",
                "<interface type=\"bridge\">", "<mac address=\"52:54:00:12:34:56\"/>", "<source bridge=\"br0\"/>", "<model type=\"virtio\"/>",
                "<serial type=\"pty\"/>", "<console type=\"pty\"/>", "<rng model=\"virtio\">", "<memballoon model=\"virtio\"/>")) {
            assertTrue(xml.contains(kept), kept + " survives define/dumpxml: " + xml);
        }
        assertEquals(xml, DomainDefinition.parse(xml).toXml(), "what dumpxml shows defines the same domain again");
    }

    @Test
    void mistakesAreNamed() {
        assertEquals("unsupported device <frobnicator> in <devices>", message(FULL.replace("<memballoon model='virtio'/>", "<frobnicator/>")));
        assertEquals("disk driver type 'vmdk' is not supported (raw and qcow2 are)", message(FULL.replace("type='qcow2'", "type='vmdk'")));
        assertTrue(message(FULL.replace("cache='none'", "cache='fast'")).startsWith("disk cache mode 'fast' is not one of"));
        assertEquals("unable to parse mac address '52:54:00:12:34'", message(FULL.replace("52:54:00:12:34:56", "52:54:00:12:34")));
        assertTrue(message(FULL.replace("52:54:00:12:34:56", "01:54:00:12:34:56")).startsWith("expected unicast mac address"));
        assertTrue(message(FULL.replace("<source bridge='br0'/>", "")).contains("needs <source bridge="));
        assertTrue(message(FULL.replace("type='bridge'", "type='vhostuser'")).startsWith("interface type 'vhostuser' is not supported"));
        assertTrue(message(FULL.replace("<memory unit='GiB'>1</memory>", "<memory unit='parsecs'>1</memory>")).contains("unknown unit 'parsecs'"));
        assertTrue(message(FULL.replace("</devices>", "</devices><blinkenlights/>")).contains("unsupported element <blinkenlights>"));
        assertTrue(message("<domain type='kvm'>\n<name>x</name>\n<memory>1</memory\n</domain>").startsWith("XML error at line 4, column"));
        assertEquals("unknown on_poweroff action: 'halt' (one of destroy, preserve, rename-restart, restart)",
                message(FULL.replace("<on_poweroff>destroy</on_poweroff>", "<on_poweroff>halt</on_poweroff>")));
        assertTrue(message(FULL.replace("<on_crash>preserve</on_crash>", "<on_crash>explode</on_crash>")).startsWith("unknown on_crash action"));
        assertDoesNotThrow(() -> DomainDefinition.parse(FULL.replace("<on_crash>preserve</on_crash>", "<on_crash>coredump-destroy</on_crash>")));
        assertTrue(message(FULL.replace("<currentMemory unit='MiB'>512</currentMemory>", "<currentMemory unit='GiB'>2</currentMemory>"))
                .contains("exceeds memory"));
    }

    private static String message(String xml) {
        return assertThrows(DomainXmlException.class, () -> DomainDefinition.parse(xml)).getMessage();
    }
}
