package dev.jvirt.daemon.rpc;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class XdrTest {

    @Test
    void valuesRoundTripWithFourBytePadding() throws Exception {
        byte[] encoded = new XdrWriter().writeInt(-2).writeHyper(0x0102030405060708L).writeString("abcde").writeOptionalString(null)
                .writeOptionalString("é").writeFixedOpaque(new byte[] {9, 8, 7}).toByteArray();
        // int 4 + hyper 8 + (len 4 + "abcde" padded to 8) + absent 4 + (present 4 + len 4 + 2 bytes padded to 4) + 3 padded to 4
        assertEquals(4 + 8 + 12 + 4 + 12 + 4, encoded.length);
        XdrReader in = new XdrReader(ByteBuffer.wrap(encoded));
        assertEquals(-2, in.readInt());
        assertEquals(0x0102030405060708L, in.readHyper());
        assertEquals("abcde", in.readString(100));
        assertNull(in.readOptionalString(100));
        assertEquals("é", in.readOptionalString(100));
        assertArrayEquals(new byte[] {9, 8, 7}, in.readFixedOpaque(3));
        assertEquals(0, in.remaining());
    }

    @Test
    void lengthsBeyondTheLimitOrTheMessageAreRefused() {
        byte[] tooLong = new XdrWriter().writeString("x".repeat(65)).toByteArray();
        assertTrue(assertThrows(XdrException.class, () -> new XdrReader(ByteBuffer.wrap(tooLong)).readString(64))
                .getMessage().contains("exceeds the limit"));
        byte[] lies = new XdrWriter().writeInt(1000).writeInt(0).toByteArray(); // claims 1000 bytes, has 4
        assertThrows(XdrException.class, () -> new XdrReader(ByteBuffer.wrap(lies)).readString(1 << 20));
        byte[] negative = new XdrWriter().writeInt(-8).toByteArray();
        assertThrows(XdrException.class, () -> new XdrReader(ByteBuffer.wrap(negative)).readString(1 << 20));
        assertThrows(XdrException.class, () -> new XdrReader(ByteBuffer.wrap(new byte[3])).readInt());
    }

    @Test
    void messageHeaderIsSixWordsAfterTheLengthWord() throws Exception {
        byte[] packet = RpcMessage.encode(0x20008086, 1, 66, RpcMessage.TYPE_CALL, 7, RpcMessage.STATUS_OK, new byte[] {0, 0, 0, 5});
        ByteBuffer buffer = ByteBuffer.wrap(packet);
        assertEquals(packet.length, buffer.getInt());
        RpcMessage message = RpcMessage.decode(buffer);
        assertEquals(0x20008086, message.program());
        assertEquals(66, message.procedure());
        assertEquals(7, message.serial());
        assertEquals(4, message.payload().remaining());
        assertThrows(XdrException.class, () -> RpcMessage.decode(ByteBuffer.allocate(20)));
    }
}
