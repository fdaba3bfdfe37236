package dev.jvirt.vmm.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.function.IntPredicate;

/**
 * The guest console on the VMM's stdio, as QEMU's {@code -nographic}: guest output to stdout,
 * stdin to the guest, with QEMU's escape {@code Ctrl-a x} to quit. When stdin is a terminal it is
 * switched to raw mode so keys reach the guest as typed, and restored on exit.
 */
public final class Console {

    private static final int CTRL_A = 0x01;

    private String savedTerminalMode;

    /** Output stream for guest console bytes: unbuffered, so an interactive shell echoes at once. */
    public static OutputStream guestOutput(OutputStream stdout) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                stdout.write(b);
                stdout.flush();
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                stdout.write(b, off, len);
                stdout.flush();
            }
        };
    }

    /**
     * Feeds stdin to {@code guestInput} on a daemon thread. {@code guestInput} returns false if the
     * guest side is gone. Ctrl-a x calls {@code quit}; Ctrl-a Ctrl-a sends one Ctrl-a.
     */
    public void startInput(InputStream stdin, IntPredicate guestInput, Runnable quit) {
        Thread.ofPlatform().name("console-input").daemon(true).start(() -> {
            boolean escape = false;
            try {
                int b;
                while ((b = stdin.read()) >= 0) {
                    if (escape) {
                        escape = false;
                        if (b == 'x') {
                            quit.run();
                            return;
                        }
                        if (b != CTRL_A) {
                            continue;
                        }
                    } else if (b == CTRL_A) {
                        escape = true;
                        continue;
                    }
                    if (!guestInput.test(b)) {
                        return;
                    }
                }
            } catch (IOException e) {
                // stdin closed: the guest keeps running without input, as in QEMU
            }
        });
    }

    /** Raw mode for an interactive terminal; a no-op when stdin is a pipe or file. */
    public void enterRawMode() {
        java.io.Console console = System.console();
        if (console == null || !console.isTerminal()) {
            return;
        }
        savedTerminalMode = stty("-g");
        if (savedTerminalMode != null) {
            stty("raw", "-echo");
            Runtime.getRuntime().addShutdownHook(new Thread(this::restore));
        }
    }

    public void restore() {
        if (savedTerminalMode != null) {
            stty(savedTerminalMode.trim());
            savedTerminalMode = null;
        }
    }

    private static String stty(String... args) {
        String[] command = new String[args.length + 1];
        command[0] = "stty";
        System.arraycopy(args, 0, command, 1, args.length);
        try {
            Process process = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.INHERIT).start();
            String output = new String(process.getInputStream().readAllBytes());
            return process.waitFor() == 0 ? output : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
