package dev.jvirt.vmm.cli;

import sun.misc.Signal;

import java.util.function.Consumer;

/**
 * QEMU's termination signals: SIGTERM, SIGINT and SIGHUP ask the VM to stop, and the process then
 * ends normally with status 0 ("terminating on signal 15"). The JVM's own handling would run the
 * shutdown hooks and exit with 128 + the signal number, which management tools read as a crash.
 */
final class TerminationSignals {

    private static final String[] NAMES = {"TERM", "INT", "HUP"};

    private TerminationSignals() {
    }

    /** Calls {@code stop} with a description such as "signal 15 (SIGTERM)" when one arrives. */
    static void install(Consumer<String> stop) {
        for (String name : NAMES) {
            try {
                Signal.handle(new Signal(name), signal -> stop.accept(
                        "signal " + signal.getNumber() + " (SIG" + signal.getName() + ")"));
            } catch (IllegalArgumentException e) {
                // The JVM reserves this signal (e.g. with -Xrs): keep its default behaviour.
            }
        }
    }
}
