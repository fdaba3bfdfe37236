package dev.jvirt.net;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MacAddressTest {

    @Test
    void parsesAndPrintsTheWayIpLinkDoes() {
        MacAddress mac = MacAddress.parse("52:54:00:AB:cd:0f");
        assertEquals(0x525400ABCD0FL, mac.bits());
        assertEquals("52:54:00:ab:cd:0f", mac.toString());
        assertEquals(mac, MacAddress.parse(mac.toString()));
        assertEquals(mac, MacAddress.parse("52-54-00-ab-cd-0f"));
        assertEquals(MacAddress.parse("02:00:00:00:00:01"), MacAddress.parse("2:0:0:0:0:1"));
    }

    @Test
    void octetsRoundTrip() {
        byte[] octets = {(byte) 0xfe, 0x00, 0x12, 0x34, 0x56, (byte) 0x78};
        MacAddress mac = MacAddress.of(octets);
        assertArrayEquals(octets, mac.octets());
        assertEquals(0xfe, mac.octet(0));
        assertEquals(0x78, mac.octet(5));
        assertEquals("fe:00:12:34:56:78", mac.toString());
    }

    @Test
    void rejectsWhatIsNotAMacAddress() {
        for (String bad : new String[] {"", "52:54:00:12:34", "52:54:00:12:34:56:78", "52:54:00:12:34:5g",
                "52:54:00:12:34:567", "52:54::12:34:56", "52:54:00:12:34:+5", "52 54 00 12 34 56"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MacAddress.parse(bad), bad);
            assertTrue(e.getMessage().contains("is not a MAC address"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new MacAddress(1L << 48));
        assertThrows(IllegalArgumentException.class, () -> MacAddress.of(new byte[5]));
    }

    @Test
    void classifiesGroupAndLocalAddresses() {
        assertTrue(MacAddress.parse("ff:ff:ff:ff:ff:ff").isMulticast());
        assertTrue(MacAddress.parse("01:00:5e:00:00:01").isMulticast());
        assertTrue(MacAddress.parse("00:1b:21:00:00:01").isUnicast());
        assertFalse(MacAddress.parse("00:1b:21:00:00:01").isLocallyAdministered());
        assertTrue(MacAddress.parse("52:54:00:00:00:01").isLocallyAdministered());
        assertTrue(MacAddress.parse("00:00:00:00:00:00").isZero());
    }

    @Test
    void randomAddressesUseQemusPrefixAndDiffer() {
        Random random = new Random(42);
        MacAddress first = MacAddress.random(random);
        MacAddress second = MacAddress.random(random);
        for (MacAddress mac : new MacAddress[] {first, second, MacAddress.random()}) {
            assertTrue(mac.toString().startsWith("52:54:00:"), mac.toString());
            assertTrue(mac.isUnicast());
            assertTrue(mac.isLocallyAdministered());
        }
        assertNotEquals(first, second);
    }
}
