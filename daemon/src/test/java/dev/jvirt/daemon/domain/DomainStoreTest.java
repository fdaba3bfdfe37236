package dev.jvirt.daemon.domain;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Persistent and transient domains on disk, as a restarted daemon finds them. */
class DomainStoreTest {

    @TempDir
    Path state;

    private static DomainDefinition definition(String name) throws DomainXmlException {
        return DomainDefinition.parse("""
                <domain type='kvm'><name>%s</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>
                <os><type>hvm</type><kernel>/k</kernel></os></domain>""".formatted(name));
    }

    @Test
    void aTransientDomainIsKeptOnlyUntilItIsForgotten() throws Exception {
        try (DomainStore store = DomainStore.open(state)) {
            Domain created = store.createTransient(definition("t"));
            assertFalse(created.persistent());
            created.markRunning(1, Domain.RUNNING_BOOTED);
        }
        assertTrue(Files.exists(state.resolve("domains/transient/t.xml")));
        assertFalse(Files.exists(state.resolve("domains/t.xml")), "no persistent definition");
        try (DomainStore again = DomainStore.open(state)) {
            Domain found = again.byName("t");
            assertFalse(found.persistent(), "a restarted daemon still knows it is transient");
            found.markRunning(1, Domain.RUNNING_UNPAUSED); // as the supervisor's re-attach does
            again.forget(found);
            assertSame(found, again.byName("t"), "not forgotten while it reads as running");
            found.markShutoff(Domain.SHUTOFF_DESTROYED);
            again.forget(found);
            assertNull(again.byName("t"));
        }
        assertFalse(Files.exists(state.resolve("domains/transient/t.xml")));
    }

    @Test
    void createRefusesANameOrUuidInUse() throws Exception {
        try (DomainStore store = DomainStore.open(state)) {
            DomainDefinition defined = definition("d");
            store.define(defined);
            assertTrue(assertThrows(DomainXmlException.class, () -> store.createTransient(definition("d"))).getMessage()
                    .contains("domain 'd' already exists"));
            DomainDefinition sameUuid = DomainDefinition.parse(defined.toXml().replace("<name>d</name>", "<name>e</name>"));
            assertTrue(assertThrows(DomainXmlException.class, () -> store.createTransient(sameUuid)).getMessage()
                    .contains("already exists with uuid"));
            assertNull(store.byName("e"));
        }
    }

    @Test
    void undefiningARunningDomainMakesItTransientAndDefiningMakesItPersistentAgain() throws Exception {
        try (DomainStore store = DomainStore.open(state)) {
            Domain domain = store.define(definition("r"));
            store.setAutostart(domain, true);
            domain.markRunning(3, Domain.RUNNING_BOOTED);
            store.undefine(domain);
            assertSame(domain, store.byName("r"), "still there while it runs");
            assertFalse(domain.persistent());
            assertFalse(domain.autostart());
            assertFalse(Files.exists(state.resolve("domains/r.xml")));
            assertFalse(Files.exists(state.resolve("domains/autostart/r")));
            assertTrue(Files.exists(state.resolve("domains/transient/r.xml")));

            store.define(domain.definition());
            assertTrue(domain.persistent());
            assertTrue(Files.exists(state.resolve("domains/r.xml")));
            assertFalse(Files.exists(state.resolve("domains/transient/r.xml")));

            domain.markShutoff(Domain.SHUTOFF_DESTROYED);
            store.undefine(domain);
            assertNull(store.byName("r"), "a shut-off domain is gone at once");
            assertEquals(0, Files.list(state.resolve("domains/transient")).filter(f -> !f.getFileName().toString().startsWith(".")).count());
        }
    }

    @Test
    void aNameBeginningWithADotSurvivesARestart() throws Exception {
        try (DomainStore store = DomainStore.open(state)) {
            store.define(definition(".hidden"));
        }
        try (DomainStore again = DomainStore.open(state)) {
            assertEquals(".hidden", again.byName(".hidden").definition().name(), "not mistaken for a temporary file");
        }
    }
}
