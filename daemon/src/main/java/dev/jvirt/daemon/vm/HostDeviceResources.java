package dev.jvirt.daemon.vm;

import dev.jvirt.daemon.network.Network;
import dev.jvirt.daemon.network.Networks;
import dev.jvirt.daemon.state.ObjectException;
import dev.jvirt.daemon.storage.StoragePool;
import dev.jvirt.daemon.storage.Volume;
import dev.jvirt.daemon.storage.Volumes;
import dev.jvirt.daemon.storage.StoragePools;

import java.io.IOException;

/** Volumes from the daemon's storage pools and bridges from its networks, as libvirt's qemu driver resolves them. */
public final class HostDeviceResources implements DeviceResources {

    private final StoragePools pools;
    private final Volumes volumes;
    private final Networks networks;

    public HostDeviceResources(StoragePools pools, Volumes volumes, Networks networks) {
        this.pools = pools;
        this.volumes = volumes;
        this.networks = networks;
    }

    @Override
    public VolumeSource volume(String poolName, String volumeName) throws VmStartException {
        try {
            StoragePool pool = pools.byName(poolName);
            if (!pool.isActive()) {
                throw new VmStartException("storage pool '" + poolName + "' containing volume '" + volumeName + "' is not active");
            }
            Volume volume = volumes.byName(pool, volumeName);
            return new VolumeSource(volume.path(), volume.format());
        } catch (ObjectException | IOException e) {
            throw new VmStartException(e.getMessage());
        }
    }

    @Override
    public String networkBridge(String name) throws VmStartException {
        try {
            Network network = networks.byName(name);
            if (!network.isActive()) {
                throw new VmStartException("Requested operation is not valid: network '" + name + "' is not active");
            }
            return network.definition().bridge();
        } catch (ObjectException e) {
            throw new VmStartException(e.getMessage());
        }
    }
}
