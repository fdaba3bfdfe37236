package dev.jvirt.vmm.cli;

import java.nio.file.Path;
import java.util.Set;

/**
 * Parses QEMU-style options ({@code -m 512 -smp 2 -kernel bzImage ...}) into {@link VmmOptions}.
 * Both {@code -opt} and {@code --opt} are accepted, as QEMU does. Options QEMU users pass out of
 * habit that change nothing here ({@code -enable-kvm}, {@code -display none}) are accepted.
 */
public final class CommandLine {

    public static final int MAX_CPUS = 255;

    private final String[] args;
    private int position;

    private CommandLine(String[] args) {
        this.args = args;
    }

    public static VmmOptions parse(String... args) throws UsageException {
        return new CommandLine(args).parseAll();
    }

    private VmmOptions parseAll() throws UsageException {
        VmmOptions options = new VmmOptions();
        DeviceSpecs devices = new DeviceSpecs();
        while (position < args.length) {
            String raw = args[position++];
            if (!raw.startsWith("-") || raw.equals("-") || raw.equals("--")) {
                throw new UsageException(raw + ": invalid option (disk images are given with -drive)");
            }
            String option = raw.startsWith("--") ? raw.substring(1) : raw;
            switch (option) {
                case "-name" -> options.name = KeyValueOptions.parse(option, value(option), "guest", Set.of()).get("guest");
                case "-m" -> options.memoryBytes = memory(option, value(option));
                case "-smp" -> options.cpus = cpus(option, value(option));
                case "-cpu" -> options.cpuModel = value(option);
                case "-kernel" -> options.kernel = Path.of(value(option));
                case "-initrd" -> options.initrd = Path.of(value(option));
                case "-append" -> options.append = value(option);
                case "-nographic" -> options.nographic = true;
                case "-serial" -> serial(options, option, value(option));
                case "-qmp" -> options.qmp.add(qmp(option, value(option)));
                case "-mem-path" -> options.memPath = Path.of(value(option));
                case "-machine", "-M" -> machine(options, option, value(option));
                case "-accel" -> accel(option, value(option));
                case "-S" -> options.startPaused = true;
                case "-no-reboot" -> options.noReboot = true;
                case "-enable-kvm", "-nodefaults", "-no-user-config" -> { }
                case "-display", "-vga" -> requireNone(option, value(option));
                case "-drive" -> devices.drive(value(option));
                case "-netdev" -> devices.netdev(value(option));
                case "-net" -> devices.net(value(option));
                case "-chardev" -> devices.chardev(value(option));
                case "-device" -> devices.device(value(option));
                case "-blockdev" -> throw new UsageException(option + ": not supported: use -drive (with if=none and -device virtio-blk-pci,drive=ID)");
                default -> throw new UsageException(raw + ": invalid option");
            }
        }
        if (options.kernel == null) {
            throw new UsageException("no kernel given: -kernel is required (jvirt-vmm boots Linux directly, without firmware)");
        }
        options.devices = devices.resolve();
        if (options.hasStdioVirtconsole() && options.effectiveSerial() == VmmOptions.SerialTarget.STDIO) {
            throw new UsageException("-chardev stdio: stdio is already the serial console (-nographic or -serial stdio);"
                    + " add -serial none or -serial file:PATH");
        }
        if (options.initrd != null && options.kernel == null) {
            throw new UsageException("-initrd only works with -kernel");
        }
        return options;
    }

    private String value(String option) throws UsageException {
        if (position >= args.length) {
            throw new UsageException(option + ": requires an argument");
        }
        return args[position++];
    }

    private static long memory(String option, String text) throws UsageException {
        KeyValueOptions parsed = KeyValueOptions.parse(option, text, "size", Set.of());
        parsed.allowOnly(Set.of("size", "slots", "maxmem"));
        long bytes = SizeParser.parse(option, parsed.get("size"), 1L << 20);
        if (bytes < (2L << 20)) {
            throw new UsageException(option + ": " + text + " is too small: at least 2 MiB of RAM are needed");
        }
        return (bytes + 0xFFF) & ~0xFFFL;
    }

    private static int cpus(String option, String text) throws UsageException {
        KeyValueOptions parsed = KeyValueOptions.parse(option, text, "cpus", Set.of());
        parsed.allowOnly(Set.of("cpus", "sockets", "cores", "threads", "maxcpus", "dies"));
        int cpus;
        if (parsed.has("cpus")) {
            cpus = integer(option, parsed.get("cpus"));
        } else {
            cpus = 1;
            for (String key : new String[] {"sockets", "dies", "cores", "threads"}) {
                if (parsed.has(key)) {
                    cpus *= integer(option, parsed.get(key));
                }
            }
        }
        if (cpus < 1 || cpus > MAX_CPUS) {
            throw new UsageException(option + ": " + cpus + " CPUs requested, supported range is 1-" + MAX_CPUS);
        }
        return cpus;
    }

    private static int integer(String option, String text) throws UsageException {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new UsageException(option + ": '" + text + "' is not a number");
        }
    }

    private static void serial(VmmOptions options, String option, String text) throws UsageException {
        switch (text) {
            case "stdio", "mon:stdio" -> options.serial = VmmOptions.SerialTarget.STDIO;
            case "none", "null" -> options.serial = VmmOptions.SerialTarget.NONE;
            default -> {
                if (!text.startsWith("file:")) {
                    throw new UsageException(option + ": '" + text + "' is not supported (use stdio, none or file:PATH)");
                }
                options.serial = VmmOptions.SerialTarget.FILE;
                options.serialFile = Path.of(text.substring("file:".length()));
            }
        }
    }

    private static VmmOptions.QmpEndpoint qmp(String option, String text) throws UsageException {
        KeyValueOptions parsed = KeyValueOptions.parse(option, text, "address", Set.of("server", "wait"));
        parsed.allowOnly(Set.of("address", "server", "wait"));
        String address = parsed.get("address");
        if (address == null || !address.startsWith("unix:") || address.length() == "unix:".length()) {
            throw new UsageException(option + ": '" + text + "': only unix:PATH,server sockets are supported");
        }
        if (!parsed.flag("server", false)) {
            throw new UsageException(option + ": '" + text + "': jvirt-vmm only listens (add ,server)");
        }
        return new VmmOptions.QmpEndpoint(Path.of(address.substring("unix:".length())), parsed.flag("wait", true));
    }

    private static void machine(VmmOptions options, String option, String text) throws UsageException {
        KeyValueOptions parsed = KeyValueOptions.parse(option, text, "type", Set.of());
        parsed.allowOnly(Set.of("type", "accel", "mem-merge", "usb", "vmport", "dump-guest-core"));
        String type = parsed.get("type");
        if (type != null && !Set.of("pc", "q35", "microvm", "jvirt").contains(type) && !type.startsWith("pc-")) {
            throw new UsageException(option + ": unsupported machine type '" + type + "' (jvirt has one PC-like machine)");
        }
        if (parsed.has("accel")) {
            accel(option, parsed.get("accel"));
        }
        options.memMerge = parsed.flag("mem-merge", false);
    }

    private static void accel(String option, String text) throws UsageException {
        String accelerator = text.split(",", 2)[0];
        if (!accelerator.equals("kvm")) {
            throw new UsageException(option + ": accelerator '" + accelerator + "' is not supported: jvirt-vmm runs on KVM only");
        }
    }

    private static void requireNone(String option, String text) throws UsageException {
        if (!text.equals("none")) {
            throw new UsageException(option + ": '" + text + "' is not supported: jvirt-vmm has no display (use -nographic)");
        }
    }
}
