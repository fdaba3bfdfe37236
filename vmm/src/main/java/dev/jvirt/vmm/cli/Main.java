package dev.jvirt.vmm.cli;

import dev.jvirt.vmm.boot.BootException;
import dev.jvirt.vmm.machine.BootTrace;
import dev.jvirt.vmm.machine.Machine;
import dev.jvirt.vmm.machine.MachineBuilder;
import dev.jvirt.vmm.machine.Termination;
import dev.jvirt.vmm.qmp.QmpCommands;
import dev.jvirt.vmm.qmp.QmpServer;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code jvirt-vmm}: boots one virtual machine on KVM with QEMU-style options. Every failure is
 * one line on stderr and a non-zero exit status; a guest power-off or QMP quit exits 0.
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        PrintStream err = System.err;
        VmmOptions options;
        try {
            options = CommandLine.parse(args);
        } catch (UsageException e) {
            err.println("jvirt-vmm: " + e.getMessage());
            return 1;
        }
        BootTrace.phase("JVM started, options parsed");
        String device = System.getenv("JVIRT_KVM_DEVICE");
        if (device != null && !device.isEmpty()) {
            options.kvmDevice = device;
        }

        List<QmpServer> qmpServers = new ArrayList<>();
        Console console = new Console();
        try {
            OutputStream guestOutput = switch (options.effectiveSerial()) {
                case STDIO -> Console.guestOutput(System.out);
                case FILE -> new FileOutputStream(options.serialFile.toFile());
                case NONE -> OutputStream.nullOutputStream();
            };
            Machine machine = MachineBuilder.build(options, guestOutput);
            for (VmmOptions.QmpEndpoint endpoint : options.qmp) {
                QmpServer server = QmpServer.listen(endpoint.socket(), new QmpCommands(machine, options.name));
                machine.addListener(server);
                qmpServers.add(server);
            }
            for (int i = 0; i < options.qmp.size(); i++) {
                if (options.qmp.get(i).waitForClient()) {
                    qmpServers.get(i).awaitFirstClient();
                }
            }
            if (options.effectiveSerial() == VmmOptions.SerialTarget.STDIO || options.hasStdioVirtconsole()) {
                console.enterRawMode();
                console.startInput(System.in, machine::sendConsoleInput, () -> machine.terminate(Termination.quit()));
            }
            // SIGTERM, SIGINT and SIGHUP end the VM the way QEMU does: devices closed (disks
            // flushed), a line saying why, exit status 0.
            TerminationSignals.install(signal -> machine.terminate(Termination.signal(signal)));
            // Anything else that ends the JVM (System.exit elsewhere, other signals) still flushes the disks.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                machine.terminate(Termination.signal("JVM shutdown"));
                machine.closeDevices();
            }));
            machine.start();
            Termination termination = machine.awaitTermination();
            machine.closeDevices();
            console.restore();
            if (termination.exitStatus() != 0) {
                err.println("jvirt-vmm: " + termination.detail());
            } else if (!termination.byGuest()) {
                err.println("jvirt-vmm: " + termination.detail());
            }
            qmpServers.forEach(QmpServer::close);
            return termination.exitStatus();
        } catch (UsageException | BootException e) {
            err.println("jvirt-vmm: " + e.getMessage());
        } catch (IOException e) {
            err.println("jvirt-vmm: " + e.getMessage());
        } catch (InterruptedException e) {
            err.println("jvirt-vmm: interrupted");
        } catch (Exception e) {
            err.println("jvirt-vmm: " + e.getMessage());
            if (System.getenv("JVIRT_DEBUG") != null) {
                e.printStackTrace(err);
            }
        } finally {
            console.restore();
        }
        qmpServers.forEach(QmpServer::close);
        return 1;
    }
}
