package dev.jvirt.daemon.storage;

import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.xml.XmlException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StorageDefinitionsTest {

    @TempDir
    Path dir;

    @Test
    void poolXmlIsCheckedAndKept() throws Exception {
        PoolDefinition pool = PoolDefinition.parse("<pool type='dir'><name>p</name><target><path>/var/x/../images</path>"
                + "<permissions><mode>0711</mode></permissions></target></pool>");
        assertEquals(Path.of("/var/images"), pool.target());
        assertTrue(pool.toXml().contains("<uuid>" + pool.uuid() + "</uuid>"), "a UUID is assigned and written in");
        assertTrue(pool.toXml().contains("<mode>0711</mode>"), "elements jvirt does not use are preserved");
        assertTrue(pool.toXml(10, 4, 6).contains("<available unit=\"bytes\">6</available>"));
        assertTrue(assertThrows(XmlException.class, () -> PoolDefinition.parse("<pool type='logical'><name>v</name></pool>"))
                .getMessage().contains("'logical' is not supported"));
        assertTrue(assertThrows(XmlException.class, () -> PoolDefinition.parse("<pool type='dir'><name>p</name><target><path>rel</path></target></pool>"))
                .getMessage().contains("must be absolute"));
        assertTrue(assertThrows(XmlException.class, () -> PoolDefinition.parse("<pool type='dir'>\n<name>p</nam></pool>"))
                .getMessage().startsWith("XML error at line 2, column"));
    }

    @Test
    void volumeXmlAsVirshSendsIt() throws Exception {
        VolumeSpec spec = VolumeSpec.parse("<volume><name>d.qcow2</name><capacity unit='G'>2</capacity><target><format type='qcow2'/></target>"
                + "<backingStore><path>/i/base.raw</path><format type='raw'/></backingStore></volume>");
        assertEquals(new VolumeSpec("d.qcow2", 2L << 30, "qcow2", "/i/base.raw", "raw"), spec);
        VolumeSpec bare = VolumeSpec.parse("<volume><name>x</name><capacity>1000</capacity></volume>");
        assertEquals(1000, bare.capacity());
        assertNull(bare.format());
        assertTrue(assertThrows(XmlException.class, () -> VolumeSpec.parse("<volume><name>a/b</name><capacity>1</capacity></volume>"))
                .getMessage().contains("cannot contain '/'"));
        assertTrue(assertThrows(XmlException.class, () -> VolumeSpec.parse("<volume><name>a</name><capacity unit='parsec'>1</capacity></volume>"))
                .getMessage().contains("unknown unit"));
    }

    @Test
    void volumesAreMadeByTheBlockModule() throws Exception {
        StoragePools pools = StoragePools.open(dir.resolve("state"));
        StoragePool pool = pools.define(PoolDefinition.parse("<pool type='dir'><name>p</name><target><path>" + dir.resolve("images")
                + "</path></target></pool>"));
        Volumes volumes = new Volumes(pools);
        assertEquals(ObjectException.Kind.INVALID_STATE,
                assertThrows(ObjectException.class, () -> volumes.list(pool)).kind(), "an inactive pool has no volumes to show");
        pools.build(pool);
        pools.start(pool);
        Volume base = volumes.create(pool, VolumeSpec.parse("<volume><name>base.raw</name><capacity unit='M'>4</capacity></volume>"));
        assertEquals("raw", base.format());
        assertEquals(4 << 20, base.capacity());
        Volume overlay = volumes.create(pool, VolumeSpec.parse("<volume><name>top.qcow2</name><backingStore><path>" + base.path()
                + "</path></backingStore></volume>"));
        assertEquals("qcow2", overlay.format(), "an overlay is qcow2");
        assertEquals(4 << 20, overlay.capacity(), "and takes its backing file's size when given none");
        assertEquals("raw", overlay.backingFormat());
        assertEquals(ObjectException.Kind.VOLUME_EXISTS, assertThrows(ObjectException.class,
                () -> volumes.create(pool, VolumeSpec.parse("<volume><name>base.raw</name><capacity>1</capacity></volume>"))).kind());
        assertEquals(ObjectException.Kind.UNSUPPORTED, assertThrows(ObjectException.class,
                () -> volumes.resize(overlay, 8 << 20, 0)).kind(), "qcow2 resize is not there yet");
        assertEquals(ObjectException.Kind.NO_VOLUME, assertThrows(ObjectException.class, () -> volumes.byName(pool, "../state")).kind());
        assertEquals(2, volumes.list(pool).size());
    }
}
