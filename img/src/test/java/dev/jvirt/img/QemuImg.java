package dev.jvirt.img;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs the real qemu-img / qemu-io (the oracle) and jvirt-img (in process) for tests. */
final class QemuImg {

    record Result(int status, String stdout, String stderr) { }

    static boolean available() {
        return Files.isExecutable(Path.of("/usr/bin/qemu-img")) && Files.isExecutable(Path.of("/usr/bin/qemu-io"));
    }

    static Result qemu(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).start();
        byte[] out = process.getInputStream().readAllBytes();
        byte[] err = process.getErrorStream().readAllBytes();
        return new Result(process.waitFor(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    static Result qemuOk(String... command) throws IOException, InterruptedException {
        Result result = qemu(command);
        if (result.status() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed: " + result.stderr() + result.stdout());
        }
        return result;
    }

    static Result jvirt(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Result jvirtOk(String... args) {
        Result result = jvirt(args);
        if (result.status() != 0) {
            throw new AssertionError("jvirt-img " + String.join(" ", args) + " failed: " + result.stderr());
        }
        return result;
    }

    /** qemu-io commands against one image, e.g. "write -P 0xab 0 64k". */
    static void qemuIo(Path image, String format, String... commands) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) {
            command.add("-c");
            command.add(c);
        }
        command.add(image.toString());
        qemuOk(command.toArray(String[]::new));
    }

    private QemuImg() {
    }
}
