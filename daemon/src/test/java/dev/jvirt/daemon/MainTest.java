package dev.jvirt.daemon;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

class MainTest {

    @Test
    void listenAddressesTakeLibvirtsTlsPortWhenNoneIsGiven() {
        assertArrayEquals(new String[] {"0.0.0.0", "16514"}, Main.hostAndPort("0.0.0.0", 16514));
        assertArrayEquals(new String[] {"127.0.0.1", "0"}, Main.hostAndPort("127.0.0.1:0", 16514));
        assertArrayEquals(new String[] {"::", "16514"}, Main.hostAndPort("::", 16514));
        assertArrayEquals(new String[] {"::1", "16514"}, Main.hostAndPort("[::1]", 16514));
        assertArrayEquals(new String[] {"::1", "9999"}, Main.hostAndPort("[::1]:9999", 16514));
        assertArrayEquals(new String[] {"host.example", "16514"}, Main.hostAndPort("host.example", 16514));
    }
}
