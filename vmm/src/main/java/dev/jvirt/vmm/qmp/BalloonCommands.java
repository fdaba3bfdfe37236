package dev.jvirt.vmm.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jvirt.virtio.balloon.BalloonStats;
import dev.jvirt.virtio.balloon.VirtioBalloon;
import dev.jvirt.vmm.machine.Machine;
import dev.jvirt.vmm.machine.PluggedDevice;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * QEMU's balloon interface: {@code balloon} (the memory the guest should keep, in bytes),
 * {@code query-balloon}, and the balloon's QOM properties libvirt reads for dommemstat
 * ({@code guest-stats}, {@code guest-stats-polling-interval}).
 */
final class BalloonCommands {

    private final Machine machine;
    /** What qom-set last asked for (QEMU starts with 0: no polling). */
    private volatile int pollingInterval;

    BalloonCommands(Machine machine) {
        this.machine = machine;
    }

    private PluggedDevice balloonDevice() throws QmpError {
        for (PluggedDevice device : machine.devices()) {
            if (device.device() instanceof VirtioBalloon) {
                return device;
            }
        }
        throw new QmpError("DeviceNotActive", "No balloon device has been activated");
    }

    private VirtioBalloon balloon() throws QmpError {
        return (VirtioBalloon) balloonDevice().device();
    }

    Object balloon(JsonNode args) throws QmpError {
        JsonNode value = args.get("value");
        if (value == null || !value.canConvertToLong() || value.asLong() <= 0) {
            throw QmpError.generic("Parameter 'value' expects a positive size in bytes");
        }
        VirtioBalloon balloon = balloon();
        // QEMU clamps a target above RAM to RAM (an empty balloon).
        balloon.setTargetBytes(Math.min(value.asLong(), balloon.ramBytes()));
        return Map.of();
    }

    Object queryBalloon() throws QmpError {
        return Map.of("actual", balloon().actualBytes());
    }

    /** qom-get on the balloon: the two properties libvirt uses; other paths are not ours. */
    Object qomGet(JsonNode args) throws QmpError {
        String property = checkPath(args);
        VirtioBalloon balloon = balloon();
        return switch (property) {
            case "guest-stats" -> {
                BalloonStats stats = balloon.latestStats();
                Map<String, Object> reply = new LinkedHashMap<>();
                reply.put("stats", stats.values());
                reply.put("last-update", stats.lastUpdate());
                yield reply;
            }
            case "guest-stats-polling-interval" -> pollingInterval;
            default -> throw QmpError.generic("Property '" + property + "' not found");
        };
    }

    Object qomSet(JsonNode args) throws QmpError {
        String property = checkPath(args);
        if (!property.equals("guest-stats-polling-interval")) {
            throw QmpError.generic("Property '" + property + "' cannot be set");
        }
        JsonNode value = args.get("value");
        if (value == null || !value.canConvertToInt() || value.asInt() < 0) {
            throw QmpError.generic("guest-stats-polling-interval must be a number of seconds, 0 to stop");
        }
        balloon().setStatsPollingInterval(value.asInt());
        pollingInterval = value.asInt();
        return Map.of();
    }

    private String checkPath(JsonNode args) throws QmpError {
        String path = args.path("path").asText("");
        String property = args.path("property").asText("");
        PluggedDevice device = balloonDevice();
        if (!path.equals("/machine/peripheral/" + device.id()) && !path.equals(device.id())) {
            throw new QmpError("DeviceNotFound", "Device '" + path + "' not found");
        }
        return property;
    }
}
