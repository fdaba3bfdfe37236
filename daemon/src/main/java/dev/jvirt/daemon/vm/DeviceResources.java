package dev.jvirt.daemon.vm;

import java.nio.file.Path;

/**
 * What a domain's devices refer to by name and the daemon resolves when the domain starts or a
 * device is attached: storage volumes (pool and volume name) and virtual networks (their bridge).
 */
public interface DeviceResources {

    /** A volume's file and probed format. */
    record VolumeSource(Path path, String format) { }

    VolumeSource volume(String pool, String volume) throws VmStartException;

    /** The bridge of an active network; an inactive or unknown network is an error naming it. */
    String networkBridge(String network) throws VmStartException;

    /** For domains that name no pools or networks (and for tests): every lookup fails with a clear message. */
    DeviceResources NONE = new DeviceResources() {
        @Override
        public VolumeSource volume(String pool, String volume) throws VmStartException {
            throw new VmStartException("storage pool '" + pool + "' is not known to this daemon");
        }

        @Override
        public String networkBridge(String network) throws VmStartException {
            throw new VmStartException("network '" + network + "' is not known to this daemon");
        }
    };
}
