package dev.jvirt.lab;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs bash scripts where KVM is hardware-assisted: directly on a host with vmx/svm, otherwise in
 * the nested lab (lab/run-l1). Tests that boot Linux guests go through here. Scripts see
 * JVIRT_ROOT, LAB_KERNEL (the guest bzImage) and LAB_INITRD (the guest initramfs), and the
 * helpers of lab/script-lib.sh. When a script fails, the result also carries the end of each text
 * file it left in the shared directories (the guest consoles, the VMM's stderr).
 */
public final class Lab {

    private static final int EVIDENCE_LINES = 60;

    private Lab() {
    }

    public record Result(int exitCode, String output) { }

    /** True when this host's /dev/kvm is hardware-assisted (the CPU has vmx or svm). */
    public static boolean hasHardwareKvm() {
        try {
            String cpuinfo = Files.readString(Path.of("/proc/cpuinfo"));
            return cpuinfo.matches("(?s).*\\b(vmx|svm)\\b.*") && Files.isWritable(Path.of("/dev/kvm"));
        } catch (IOException e) {
            return false;
        }
    }

    /** The project root: the nearest directory upwards that has scripts/env.sh. */
    public static Path projectRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("scripts/env.sh"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("cannot find the jvirt project root above " + Path.of("").toAbsolutePath());
        }
        return dir;
    }

    public static Path kernel() {
        return asset("vmlinuz");
    }

    /** The same kernel as {@link #kernel()}, uncompressed: an ELF vmlinux with the PVH entry note. */
    public static Path vmlinux() {
        return asset("vmlinux");
    }

    public static Path guestInitramfs() {
        return asset("guest-initramfs.cpio.gz");
    }

    /** Whether the lab's assets are present (scripts/setup builds them). */
    public static boolean isPrepared() {
        Path cache = projectRoot().resolve(".cache/lab");
        return Files.exists(cache.resolve("vmlinuz")) && Files.exists(cache.resolve("vmlinux"))
                && Files.exists(cache.resolve("guest-initramfs.cpio.gz"))
                && Files.exists(cache.resolve("l1-initramfs.cpio.gz"));
    }

    private static Path asset(String name) {
        Path file = projectRoot().resolve(".cache/lab").resolve(name);
        if (!Files.exists(file)) {
            throw new IllegalStateException(file + " is missing: run scripts/setup (or lab/prepare) first");
        }
        return file;
    }

    /** Text files a failed script left in the shared directories: the end of each, for the report. */
    private static String evidence(Path... shares) throws IOException {
        StringBuilder text = new StringBuilder();
        for (Path share : shares) {
            try (var files = Files.list(share)) {
                for (Path file : files.sorted().toList()) {
                    if (Files.isRegularFile(file) && file.getFileName().toString().matches(".*\\.(out|err|log|status|reply)")) {
                        List<String> lines = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
                        text.append("\n--- ").append(file).append(lines.size() > EVIDENCE_LINES ? " (last " + EVIDENCE_LINES + " lines)" : "")
                                .append(" ---\n");
                        lines.subList(Math.max(0, lines.size() - EVIDENCE_LINES), lines.size()).forEach(l -> text.append(l).append('\n'));
                    }
                }
            }
        }
        return text.toString();
    }

    /**
     * Runs {@code script} with bash in the lab (or directly) and returns its exit status and
     * combined output. {@code shares} are directories the script may write, visible at the same path.
     */
    public static Result run(String script, Duration timeout, Path... shares) throws IOException, InterruptedException {
        Path file = Files.createTempFile("jvirt-lab-script-", ".sh");
        try {
            Files.writeString(file, "source \"$JVIRT_ROOT/lab/script-lib.sh\"\n" + script);
            List<String> command = new ArrayList<>();
            command.add(projectRoot().resolve("lab/run").toString());
            command.add("--timeout");
            command.add(Long.toString(timeout.toSeconds()));
            for (Path share : shares) {
                command.add("--share");
                command.add(share.toString());
            }
            command.add(file.toString());
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            byte[] output = process.getInputStream().readAllBytes();
            // lab/run-l1 may run the script a second time in a fresh L1 when L1's kernel fails.
            if (!process.waitFor(2 * timeout.toSeconds() + 60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("lab did not finish within " + timeout);
            }
            String text = new String(output, StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                text += evidence(shares);
            }
            return new Result(process.exitValue(), text);
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
