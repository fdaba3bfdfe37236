package dev.jvirt.daemon.remote;

/** The host capabilities document (virsh capabilities), as far as jvirt has them. */
final class Capabilities {

    private Capabilities() {
    }

    static String xml() {
        int cpus = Runtime.getRuntime().availableProcessors();
        return """
                <capabilities>
                  <host>
                    <cpu>
                      <arch>x86_64</arch>
                      <topology sockets='1' dies='1' cores='%d' threads='1'/>
                    </cpu>
                    <migration_features>
                      <live/>
                    </migration_features>
                  </host>
                  <guest>
                    <os_type>hvm</os_type>
                    <arch name='x86_64'>
                      <wordsize>64</wordsize>
                      <emulator>jvirt-vmm</emulator>
                      <machine>pc</machine>
                      <domain type='kvm'/>
                    </arch>
                  </guest>
                </capabilities>
                """.formatted(cpus);
    }
}
