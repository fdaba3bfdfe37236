package dev.jvirt.daemon.network;

import dev.jvirt.daemon.xml.XmlException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NetworkDefinitionTest {

    @Test
    void natNetworkAsLibvirtsDefault() throws Exception {
        NetworkDefinition nat = NetworkDefinition.parse("""
                <network>
                  <name>default</name>
                  <forward mode='nat'/>
                  <ip address='192.168.122.1' netmask='255.255.255.0'>
                    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
                  </ip>
                </network>""", "virbr3");
        assertEquals(NetworkDefinition.Mode.NAT, nat.mode());
        assertEquals("virbr3", nat.bridge(), "a bridge name is chosen when none is given");
        assertTrue(nat.toXml().contains("<bridge name=\"virbr3\"/>"));
        assertEquals(new NetworkDefinition.Ipv4("192.168.122.1", 24, "192.168.122.2", "192.168.122.254"), nat.ipv4());
        assertEquals("192.168.122.0/24", nat.subnet());
    }

    @Test
    void badDefinitionsAreNamed() {
        assertTrue(message("<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>").contains("not contiguous"));
        assertTrue(message("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.1.2' end='10.0.1.9'/></dhcp></ip></network>")
                .contains("outside 10.0.0.1/24"));
        assertTrue(message("<network><name>n</name><forward mode='bridge'/></network>").contains("no <bridge name"));
        assertTrue(message("<network><name>n</name><bridge name='this-name-is-too-long'/></network>").contains("not a valid interface name"));
        assertTrue(message("<network><name>n</name><ip address='300.1.1.1' prefix='24'/></network>").contains("invalid IPv4 address"));
    }

    private static String message(String xml) {
        return assertThrows(XmlException.class, () -> NetworkDefinition.parse(xml, "virbr0")).getMessage();
    }
}
