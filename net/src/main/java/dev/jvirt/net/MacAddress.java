package dev.jvirt.net;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.random.RandomGenerator;

/** A 48-bit Ethernet address, held in the low 48 bits of {@code bits} (first octet most significant). */
public record MacAddress(long bits) {

    /** QEMU's and libvirt's prefix for generated guest addresses: locally administered, unicast. */
    public static final int QEMU_PREFIX = 0x525400;

    private static final RandomGenerator RANDOM = new SecureRandom();

    public MacAddress {
        if ((bits & ~0xFFFF_FFFF_FFFFL) != 0) {
            throw new IllegalArgumentException("MAC address 0x" + Long.toHexString(bits) + " has more than 48 bits");
        }
    }

    /** Parses six hex octets separated by ':' or '-' ("52:54:00:12:34:56"); one or two digits each. */
    public static MacAddress parse(String text) {
        String[] octets = text.split("[:-]", -1);
        if (octets.length != 6) {
            throw new IllegalArgumentException("'" + text + "' is not a MAC address (six hex octets separated by ':')");
        }
        long bits = 0;
        for (String octet : octets) {
            if (octet.isEmpty() || octet.length() > 2 || !octet.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                throw new IllegalArgumentException("'" + text + "' is not a MAC address (octet '" + octet + "')");
            }
            bits = bits << 8 | Integer.parseInt(octet, 16);
        }
        return new MacAddress(bits);
    }

    public static MacAddress of(byte[] octets) {
        if (octets.length != 6) {
            throw new IllegalArgumentException("a MAC address has 6 octets, not " + octets.length);
        }
        long bits = 0;
        for (byte octet : octets) {
            bits = bits << 8 | (octet & 0xFF);
        }
        return new MacAddress(bits);
    }

    /** A random 52:54:00:xx:xx:xx address, as QEMU and libvirt give guests. */
    public static MacAddress random() {
        return random(RANDOM);
    }

    public static MacAddress random(RandomGenerator random) {
        return new MacAddress((long) QEMU_PREFIX << 24 | random.nextInt(1 << 24));
    }

    public byte[] octets() {
        byte[] octets = new byte[6];
        for (int i = 0; i < 6; i++) {
            octets[i] = (byte) (bits >>> (8 * (5 - i)));
        }
        return octets;
    }

    public int octet(int index) {
        if (index < 0 || index > 5) {
            throw new IndexOutOfBoundsException("octet " + index);
        }
        return (int) (bits >>> (8 * (5 - index))) & 0xFF;
    }

    /** The I/G bit: a group (multicast or broadcast) address cannot be a NIC's own. */
    public boolean isMulticast() {
        return (octet(0) & 1) != 0;
    }

    public boolean isUnicast() {
        return !isMulticast();
    }

    /** The U/L bit: set in addresses not assigned by a vendor, such as generated ones. */
    public boolean isLocallyAdministered() {
        return (octet(0) & 2) != 0;
    }

    public boolean isZero() {
        return bits == 0;
    }

    /** Lower-case, colon-separated: the form {@code ip link} and QEMU print. */
    @Override
    public String toString() {
        return HexFormat.ofDelimiter(":").formatHex(octets());
    }
}
