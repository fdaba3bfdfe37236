package dev.jvirt.daemon;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Directory storage pools and their volumes through the real virsh: images are made by the
 * block module and checked with the real qemu-img.
 */
class StorageIT {

    @TempDir
    Path dir;

    @BeforeAll
    static void needTools() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/virsh")), "virsh (libvirt-clients) not installed");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img (qemu-utils) not installed");
    }

    private static JvirtdProcess.Result ok(JvirtdProcess.Result result) {
        assertEquals(0, result.status(), result.stdout() + result.stderr());
        return result;
    }

    private static String failure(JvirtdProcess.Result result) {
        assertEquals(1, result.status(), "expected a failure: " + result.stdout());
        return result.stderr();
    }

    private static String qemuImg(String... args) throws Exception {
        String[] command = new String[args.length + 1];
        command[0] = "qemu-img";
        System.arraycopy(args, 0, command, 1, args.length);
        return ok(JvirtdProcess.run(command)).stdout();
    }

    @Test
    void poolAndVolumeLifecycleWithVirsh() throws Exception {
        Path images = dir.resolve("images");
        Path state = dir.resolve("state");
        try (JvirtdProcess jvirtd = JvirtdProcess.start(state)) {
            String uri = jvirtd.tcpUri();
            assertTrue(ok(jvirtd.virsh(uri, "pool-define-as", "images", "dir", "--target", images.toString())).stdout()
                    .contains("Pool images defined"));
            assertTrue(failure(jvirtd.virsh(uri, "pool-start", "images")).contains("No such file or directory"),
                    "a pool whose directory does not exist cannot start");
            ok(jvirtd.virsh(uri, "pool-build", "images"));
            assertTrue(Files.isDirectory(images), "pool-build creates the directory");
            ok(jvirtd.virsh(uri, "pool-start", "images"));
            ok(jvirtd.virsh(uri, "pool-autostart", "images"));
            assertTrue(ok(jvirtd.virshQuiet(uri, "pool-list", "--all")).stdout().matches("\\s*images\\s+active\\s+yes\\s*"));
            String info = ok(jvirtd.virsh(uri, "pool-info", "images")).stdout();
            assertTrue(info.matches("(?s).*State:\\s+running.*Persistent:\\s+yes.*Autostart:\\s+yes.*Capacity:\\s+[0-9.]+ [KMGT]iB.*"), info);
            assertTrue(ok(jvirtd.virsh(uri, "pool-dumpxml", "images")).stdout().contains("<path>" + images + "</path>"));

            ok(jvirtd.virsh(uri, "vol-create-as", "images", "disk.raw", "10M"));
            assertEquals(10 << 20, Files.size(images.resolve("disk.raw")));
            assertTrue(qemuImg("info", images.resolve("disk.raw").toString()).contains("file format: raw"));
            ok(jvirtd.virsh(uri, "vol-create-as", "images", "base.qcow2", "1G", "--format", "qcow2"));
            String base = qemuImg("info", images.resolve("base.qcow2").toString());
            assertTrue(base.contains("file format: qcow2") && base.contains("virtual size: 1 GiB"), base);
            qemuImg("check", images.resolve("base.qcow2").toString());
            ok(jvirtd.virsh(uri, "vol-create-as", "images", "overlay.qcow2", "1G", "--format", "qcow2",
                    "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2"));
            assertTrue(qemuImg("info", images.resolve("overlay.qcow2").toString()).contains("backing file: " + images.resolve("base.qcow2")));
            assertTrue(failure(jvirtd.virsh(uri, "vol-create-as", "images", "disk.raw", "1M")).contains("already in use"));
            assertTrue(failure(jvirtd.virsh(uri, "vol-create-as", "images", "x.vmdk", "1M", "--format", "vmdk"))
                    .contains("volume format 'vmdk' is not supported"));

            String list = ok(jvirtd.virshQuiet(uri, "vol-list", "images", "--details")).stdout();
            assertTrue(list.matches("(?s)\\s*base\\.qcow2\\s+\\S+\\s+file\\s+1\\.00 GiB.*disk\\.raw\\s+\\S+\\s+file\\s+10\\.00 MiB.*overlay\\.qcow2.*"), list);
            assertTrue(ok(jvirtd.virsh(uri, "vol-info", "disk.raw", "--pool", "images")).stdout().matches("(?s).*Capacity:\\s+10\\.00 MiB.*"));
            assertEquals(images.resolve("base.qcow2").toString(), ok(jvirtd.virsh(uri, "vol-path", "base.qcow2", "--pool", "images")).stdout().trim());
            assertTrue(ok(jvirtd.virsh(uri, "vol-dumpxml", images.resolve("overlay.qcow2").toString())).stdout()
                    .contains("<backingStore>"), "volumes are found by path too");

            byte[] data = "jvirt volume data".getBytes();
            try (RandomAccessFile file = new RandomAccessFile(images.resolve("disk.raw").toFile(), "rw")) {
                file.seek(1 << 20);
                file.write(data);
            }
            ok(jvirtd.virsh(uri, "vol-clone", "disk.raw", "copy.raw", "--pool", "images"));
            assertArrayEquals(Files.readAllBytes(images.resolve("disk.raw")), Files.readAllBytes(images.resolve("copy.raw")));
            ok(jvirtd.virsh(uri, "vol-clone", "overlay.qcow2", "flat.qcow2", "--pool", "images"));
            String flat = qemuImg("info", images.resolve("flat.qcow2").toString());
            assertTrue(flat.contains("virtual size: 1 GiB") && !flat.contains("backing file"), "a clone is flattened: " + flat);

            ok(jvirtd.virsh(uri, "vol-resize", "disk.raw", "20M", "--pool", "images"));
            assertEquals(20 << 20, Files.size(images.resolve("disk.raw")));
            assertTrue(failure(jvirtd.virsh(uri, "vol-resize", "disk.raw", "5M", "--pool", "images")).contains("shrink"));
            ok(jvirtd.virsh(uri, "vol-wipe", "disk.raw", "--pool", "images"));
            byte[] wiped = Files.readAllBytes(images.resolve("disk.raw"));
            assertEquals(20 << 20, wiped.length);
            assertTrue(Arrays.equals(wiped, new byte[wiped.length]), "vol-wipe leaves only zeroes");
            ok(jvirtd.virsh(uri, "vol-delete", "copy.raw", "--pool", "images"));
            assertFalse(Files.exists(images.resolve("copy.raw")));

            assertTrue(failure(jvirtd.virsh(jvirtd.unixUri() + "-ro", "vol-delete", "disk.raw", "--pool", "images"))
                    .contains("read only access prevents"));
            assertTrue(Files.exists(images.resolve("disk.raw")));
            assertTrue(failure(jvirtd.virsh(uri, "pool-undefine", "images")).contains("still active"));
            assertTrue(failure(jvirtd.virsh(uri, "pool-define-as", "lvm", "logical", "--target", "/dev/vg")).contains("'logical' is not supported"));
        }
        try (JvirtdProcess again = JvirtdProcess.start(state)) {
            String uri = again.tcpUri();
            assertTrue(ok(again.virshQuiet(uri, "pool-list", "--all")).stdout().matches("\\s*images\\s+active\\s+yes\\s*"),
                    "an autostart pool is active after a restart");
            assertEquals("base.qcow2\ndisk.raw\nflat.qcow2\noverlay.qcow2",
                    ok(again.virshQuiet(uri, "vol-list", "images")).stdout().lines().map(l -> l.trim().split("\\s+")[0])
                            .reduce((a, b) -> a + "\n" + b).orElse(""));
            ok(again.virsh(uri, "pool-destroy", "images"));
            assertTrue(failure(again.virsh(uri, "vol-list", "images")).contains("is not active"));
            assertTrue(failure(again.virsh(uri, "pool-delete", "images")).contains("Directory not empty"));
            ok(again.virsh(uri, "pool-undefine", "images"));
            assertEquals("", ok(again.virshQuiet(uri, "pool-list", "--all")).stdout().trim());
            assertTrue(Files.exists(images.resolve("base.qcow2")), "undefining a pool keeps its volumes");
        }
    }
}
