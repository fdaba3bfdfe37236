package dev.jvirt.vmm.cpu;

import dev.jvirt.kvm.CpuidEntry;
import dev.jvirt.vmm.cli.UsageException;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds each vCPU's CPUID table from what the host's KVM supports: features filtered by the CPU
 * model and the user's {@code +feat}/{@code -feat} (KVM's paravirtual features stay on unless
 * turned off, whatever the model), and a topology of one socket with one core per
 * vCPU, whose APIC ID is the vCPU index. The guest reads its CPU count from here, so it must agree
 * with the MADT.
 */
public final class CpuidBuilder {

    private static final int[] FEATURE_LEAVES = {1, 7, 0x8000_0001, 0x8000_0007, CpuFeature.KVM_FEATURES_LEAF};
    private static final int OSXSAVE = 1 << 27;
    private static final int HTT = 1 << 28;
    private static final int HYPERVISOR = 1 << 31;

    private final List<CpuidEntry> supported;
    private final int cpuCount;
    private final String modelName;
    /** Per feature leaf (index in FEATURE_LEAVES) and register: bits the guest may see. */
    private final int[][] allowed = new int[FEATURE_LEAVES.length][4];

    private CpuidBuilder(List<CpuidEntry> supported, int cpuCount, String modelName) {
        this.supported = supported;
        this.cpuCount = cpuCount;
        this.modelName = modelName;
    }

    /** Parses {@code -cpu MODEL[,+feat][,-feat][,feat=on|off]} against the host's supported CPUID. */
    public static CpuidBuilder forModel(String spec, List<CpuidEntry> supported, int cpuCount) throws UsageException {
        String[] parts = spec.split(",");
        CpuModel model = CpuModel.named(parts[0]);
        if (model == null) {
            throw new UsageException("-cpu: unknown CPU model '" + parts[0] + "' (known: " + String.join(", ", CpuModel.names()) + ")");
        }
        CpuidBuilder builder = new CpuidBuilder(supported, cpuCount, model.name());
        if (model.features() == null) {
            for (int[] registers : builder.allowed) {
                java.util.Arrays.fill(registers, -1);
            }
        } else {
            for (String feature : model.features()) {
                builder.allow(CpuFeature.named(feature), true);
            }
            java.util.Arrays.fill(builder.allowed[leafIndex(CpuFeature.KVM_FEATURES_LEAF)], -1);
        }
        for (int i = 1; i < parts.length; i++) {
            String item = parts[i];
            boolean enable;
            String name;
            if (item.startsWith("+") || item.startsWith("-")) {
                enable = item.charAt(0) == '+';
                name = item.substring(1);
            } else if (item.endsWith("=on") || item.endsWith("=off")) {
                enable = item.endsWith("=on");
                name = item.substring(0, item.lastIndexOf('='));
            } else {
                throw new UsageException("-cpu: '" + item + "': expected +feature, -feature or feature=on|off");
            }
            CpuFeature feature = CpuFeature.named(name);
            if (feature == null) {
                throw new UsageException("-cpu: unknown CPU feature '" + name + "'");
            }
            if (enable && !builder.hostSupports(feature)) {
                throw new UsageException("-cpu: feature '" + name + "' is not supported by this host's KVM");
            }
            builder.allow(feature, enable);
        }
        return builder;
    }

    public String modelName() {
        return modelName;
    }

    private void allow(CpuFeature feature, boolean enable) {
        int leafIndex = leafIndex(feature.leaf());
        int register = feature.register().ordinal();
        if (enable) {
            allowed[leafIndex][register] |= feature.mask();
        } else {
            allowed[leafIndex][register] &= ~feature.mask();
        }
    }

    private boolean hostSupports(CpuFeature feature) {
        if (feature.name().equals("hypervisor")) {
            return true;
        }
        for (CpuidEntry entry : supported) {
            if (entry.function() == feature.leaf() && entry.index() == feature.subleaf()) {
                return (register(entry, feature.register().ordinal()) & feature.mask()) != 0;
            }
        }
        return false;
    }

    private static int leafIndex(int leaf) {
        for (int i = 0; i < FEATURE_LEAVES.length; i++) {
            if (FEATURE_LEAVES[i] == leaf) {
                return i;
            }
        }
        throw new IllegalArgumentException("not a feature leaf: " + Integer.toHexString(leaf));
    }

    private static int register(CpuidEntry entry, int register) {
        return switch (register) {
            case 0 -> entry.eax();
            case 1 -> entry.ebx();
            case 2 -> entry.ecx();
            default -> entry.edx();
        };
    }

    /** The CPUID table for the vCPU with this index (which is also its APIC ID). */
    public List<CpuidEntry> buildFor(int apicId) {
        List<CpuidEntry> result = new ArrayList<>();
        int coreBits = 32 - Integer.numberOfLeadingZeros(Math.max(cpuCount - 1, 0));
        int maxBasicLeaf = 0;
        for (CpuidEntry entry : supported) {
            if (entry.function() == 0) {
                maxBasicLeaf = entry.eax();
            }
        }
        for (CpuidEntry entry : supported) {
            CpuidEntry e = filterFeatures(entry);
            switch (e.function()) {
                case 1 -> {
                    int ebx = (e.ebx() & 0xFF) | (8 << 8) | (Math.min(cpuCount, 255) << 16) | (apicId << 24);
                    int edx = cpuCount > 1 ? e.edx() | HTT : e.edx() & ~HTT;
                    e = e.withEbx(ebx).withEdx(edx);
                }
                case 4 -> {
                    if ((e.eax() & 0x1F) != 0) {
                        int level = (e.eax() >> 5) & 0x7;
                        int sharing = level == 3 ? cpuCount - 1 : 0;
                        e = e.withEax((e.eax() & 0x3FFF) | ((cpuCount - 1) << 26) | (sharing << 14));
                    }
                }
                case 0xB, 0x1F -> {
                    continue; // rebuilt below from our topology
                }
                case 0x8000_0008 -> e = e.withEcx((e.ecx() & ~0xF0FF) | (coreBits << 12) | (cpuCount - 1));
                case 0x8000_001E -> e = e.withEax(apicId).withEbx(apicId & 0xFF).withEcx(0);
                default -> { }
            }
            result.add(e);
        }
        if (maxBasicLeaf >= 0xB) {
            int flags = CpuidEntry.FLAG_SIGNIFICANT_INDEX;
            result.add(new CpuidEntry(0xB, 0, flags, 0, 1, (1 << 8), apicId));                 // SMT level: 1 thread
            result.add(new CpuidEntry(0xB, 1, flags, coreBits, cpuCount, (2 << 8) | 1, apicId)); // core level
            result.add(new CpuidEntry(0xB, 2, flags, 0, 0, 2, apicId));                         // end of levels
        }
        return result;
    }

    private CpuidEntry filterFeatures(CpuidEntry entry) {
        for (int i = 0; i < FEATURE_LEAVES.length; i++) {
            if (entry.function() == FEATURE_LEAVES[i] && entry.index() == 0) {
                int[] mask = allowed[i];
                int ecx = entry.ecx() & mask[2];
                if (entry.function() == 1) {
                    // OSXSAVE mirrors the guest's CR4 and KVM maintains it; the hypervisor bit is ours to set.
                    ecx = ((entry.ecx() | HYPERVISOR) & mask[2]) & ~OSXSAVE;
                    return new CpuidEntry(entry.function(), entry.index(), entry.flags(), entry.eax(), entry.ebx(),
                            ecx, entry.edx() & mask[3]);
                }
                return new CpuidEntry(entry.function(), entry.index(), entry.flags(), entry.eax() & mask[0],
                        entry.ebx() & mask[1], ecx, entry.edx() & mask[3]);
            }
        }
        return entry;
    }
}
