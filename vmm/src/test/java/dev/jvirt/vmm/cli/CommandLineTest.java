package dev.jvirt.vmm.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CommandLineTest {

    private static UsageException fails(String... args) {
        return assertThrows(UsageException.class, () -> CommandLine.parse(args));
    }

    @Test
    void qemuStyleOptionsAreUnderstood() throws Exception {
        VmmOptions o = CommandLine.parse("-m", "512", "-smp", "2", "-cpu", "host", "-kernel", "/k", "-initrd", "/i",
                "-append", "console=ttyS0 quiet", "-nographic", "-qmp", "unix:/tmp/q.sock,server,nowait",
                "-machine", "pc,mem-merge=on", "-enable-kvm", "-name", "guest=web1");
        assertEquals(512L << 20, o.memoryBytes);
        assertEquals(2, o.cpus);
        assertEquals("host", o.cpuModel);
        assertEquals(Path.of("/k"), o.kernel);
        assertEquals(Path.of("/i"), o.initrd);
        assertEquals("console=ttyS0 quiet", o.append);
        assertEquals(VmmOptions.SerialTarget.STDIO, o.effectiveSerial());
        assertEquals(Path.of("/tmp/q.sock"), o.qmp.getFirst().socket());
        assertFalse(o.qmp.getFirst().waitForClient());
        assertTrue(o.memMerge);
        assertEquals("web1", o.name);
    }

    @Test
    void defaultsMatchQemu() throws Exception {
        VmmOptions o = CommandLine.parse("-kernel", "/k");
        assertEquals(128L << 20, o.memoryBytes);
        assertEquals(1, o.cpus);
        assertEquals("qemu64", o.cpuModel);
        assertEquals(VmmOptions.SerialTarget.NONE, o.effectiveSerial());
        assertFalse(o.noReboot, "a reset reboots, as on QEMU");
    }

    @Test
    void noRebootMakesAResetEndTheVm() throws Exception {
        assertTrue(CommandLine.parse("-kernel", "/k", "-no-reboot").noReboot);
        assertTrue(CommandLine.parse("--no-reboot", "-kernel", "/k").noReboot);
    }

    @Test
    void sizesTakeSuffixesAndKeyValueForms() throws Exception {
        assertEquals(2L << 30, CommandLine.parse("-m", "2G", "-kernel", "k").memoryBytes);
        assertEquals(1536L << 20, CommandLine.parse("-m", "size=1.5G", "-kernel", "k").memoryBytes);
        assertEquals(4, CommandLine.parse("-smp", "cpus=4,sockets=1", "-kernel", "k").cpus);
        assertEquals(6, CommandLine.parse("-smp", "sockets=2,cores=3", "-kernel", "k").cpus);
        assertTrue(CommandLine.parse("-qmp", "unix:/q,server=on,wait=on", "-kernel", "k").qmp.getFirst().waitForClient());
        assertEquals(Path.of("/mnt/huge"), CommandLine.parse("--mem-path", "/mnt/huge", "-kernel", "k").memPath);
    }

    @Test
    void mistakesAreNamed() {
        assertEquals("-frobnicate: invalid option", fails("-frobnicate", "-kernel", "k").getMessage());
        assertEquals("-m: requires an argument", fails("-kernel", "k", "-m").getMessage());
        assertEquals("-m: invalid size 'lots'", fails("-m", "lots", "-kernel", "k").getMessage());
        assertEquals("-m: 1M is too small: at least 2 MiB of RAM are needed", fails("-m", "1M", "-kernel", "k").getMessage());
        assertEquals("-smp: 0 CPUs requested, supported range is 1-255", fails("-smp", "0", "-kernel", "k").getMessage());
        assertEquals("-smp: 'two' is not a number", fails("-smp", "two", "-kernel", "k").getMessage());
        assertTrue(fails("-m", "64").getMessage().startsWith("no kernel given"));
        assertTrue(fails("-accel", "tcg", "-kernel", "k").getMessage().contains("KVM only"));
        assertTrue(fails("-qmp", "tcp:localhost:4444,server", "-kernel", "k").getMessage().contains("only unix:PATH"));
        assertTrue(fails("-machine", "virt", "-kernel", "k").getMessage().contains("unsupported machine type 'virt'"));
        assertTrue(fails("disk.img", "-kernel", "k").getMessage().startsWith("disk.img: invalid option"));
    }
}
