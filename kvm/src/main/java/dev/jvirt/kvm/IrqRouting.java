package dev.jvirt.kvm;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * GSI routing tables for KVM_SET_GSI_ROUTING. That ioctl replaces the whole table, including the
 * routes KVM_CREATE_IRQCHIP installed, so whoever adds MSI routes must resend the legacy ones
 * too; the two tables here are the choices for them.
 */
public final class IrqRouting {

    /** First GSI past the IOAPIC's pins: where MSI routes may start. */
    public static final int FIRST_FREE_GSI = GsiRoute.IOAPIC_PINS;

    /** struct kvm_irq_routing header (nr, flags) and struct kvm_irq_routing_entry sizes. */
    static final int HEADER_SIZE = 8;
    static final int ENTRY_SIZE = 48;

    private static final int TYPE_IRQCHIP = 1; // KVM_IRQ_ROUTING_IRQCHIP
    private static final int TYPE_MSI = 2;     // KVM_IRQ_ROUTING_MSI

    private IrqRouting() {
    }

    /**
     * Exactly the table KVM_CREATE_IRQCHIP installs on x86 (default_routing in the kernel's
     * arch/x86/kvm irq code): GSI n drives IOAPIC pin n for n in 0..23, and GSIs 0..15 also drive
     * PIC pin n % 8 (master below 8, slave from 8).
     */
    public static List<GsiRoute> kernelDefaults() {
        List<GsiRoute> routes = new ArrayList<>();
        for (int gsi = 0; gsi < GsiRoute.IOAPIC_PINS; gsi++) {
            routes.add(new GsiRoute.Irqchip(gsi, GsiRoute.IOAPIC, gsi));
            if (gsi < 2 * GsiRoute.PIC_PINS) {
                routes.add(new GsiRoute.Irqchip(gsi, pic(gsi), gsi % GsiRoute.PIC_PINS));
            }
        }
        return List.copyOf(routes);
    }

    /**
     * The PC's wiring as the firmware tables describe it (and as QEMU routes it): like
     * {@link #kernelDefaults()} except that GSI 0, where KVM's PIT interrupts, drives IOAPIC pin 2,
     * matching the MADT's override of ISA IRQ 0 to GSI 2; IOAPIC pin 0 and GSI 2 (the PIC cascade)
     * are left unrouted. The PIT's ack notifier finds GSI 0 again through IOAPIC pin 2.
     */
    public static List<GsiRoute> pcDefaults() {
        List<GsiRoute> routes = new ArrayList<>();
        for (int gsi = 0; gsi < GsiRoute.IOAPIC_PINS; gsi++) {
            if (gsi == 2) {
                continue;
            }
            routes.add(new GsiRoute.Irqchip(gsi, GsiRoute.IOAPIC, gsi == 0 ? 2 : gsi));
            if (gsi < 2 * GsiRoute.PIC_PINS) {
                routes.add(new GsiRoute.Irqchip(gsi, pic(gsi), gsi % GsiRoute.PIC_PINS));
            }
        }
        return List.copyOf(routes);
    }

    private static int pic(int gsi) {
        return gsi < GsiRoute.PIC_PINS ? GsiRoute.PIC_MASTER : GsiRoute.PIC_SLAVE;
    }

    /**
     * Checks what the kernel would refuse with a bare EINVAL, so the message says which entry:
     * a GSI beyond {@code maxRoutes} (KVM_CAP_IRQ_ROUTING), a table longer than that, or two
     * routes of one GSI to the same irqchip, or a GSI with both MSI and irqchip routes.
     */
    static void validate(List<GsiRoute> routes, int maxRoutes) {
        if (routes.size() >= maxRoutes) {
            throw new IllegalArgumentException(routes.size() + " GSI routes; KVM takes fewer than " + maxRoutes);
        }
        Set<Long> chipsPerGsi = new HashSet<>();
        Set<Integer> msiGsis = new HashSet<>();
        for (GsiRoute route : routes) {
            if (route.gsi() >= maxRoutes) {
                throw new IllegalArgumentException("GSI " + route.gsi() + " is beyond KVM's " + maxRoutes + " routes");
            }
            // An MSI route counts as its own "chip" (-1): one per GSI, and never mixed with pins.
            int chip = route instanceof GsiRoute.Irqchip irqchip ? irqchip.irqchip() : -1;
            if (!chipsPerGsi.add(((long) route.gsi() << 8) | (chip & 0xFF))) {
                throw new IllegalArgumentException("GSI " + route.gsi() + " has two routes to the same " + (chip < 0 ? "MSI" : "irqchip " + chip));
            }
            if (chip < 0) {
                msiGsis.add(route.gsi());
            }
        }
        for (GsiRoute route : routes) {
            if (route instanceof GsiRoute.Irqchip && msiGsis.contains(route.gsi())) {
                throw new IllegalArgumentException("GSI " + route.gsi() + " has both an MSI route and an irqchip route");
            }
        }
    }

    static long size(int entries) {
        return HEADER_SIZE + (long) entries * ENTRY_SIZE;
    }

    /** Writes struct kvm_irq_routing with {@code routes} into {@code buffer} (zeroed, {@link #size} bytes). */
    static void encode(List<GsiRoute> routes, MemorySegment buffer) {
        buffer.set(JAVA_INT, 0, routes.size());
        buffer.set(JAVA_INT, 4, 0);
        long offset = HEADER_SIZE;
        for (GsiRoute route : routes) {
            buffer.set(JAVA_INT, offset, route.gsi());
            switch (route) {
                case GsiRoute.Irqchip irqchip -> {
                    buffer.set(JAVA_INT, offset + 4, TYPE_IRQCHIP);
                    buffer.set(JAVA_INT, offset + 16, irqchip.irqchip());
                    buffer.set(JAVA_INT, offset + 20, irqchip.pin());
                }
                case GsiRoute.Msi msi -> {
                    buffer.set(JAVA_INT, offset + 4, TYPE_MSI);
                    buffer.set(JAVA_INT, offset + 16, (int) msi.address());
                    buffer.set(JAVA_INT, offset + 20, (int) (msi.address() >>> 32));
                    buffer.set(JAVA_INT, offset + 24, msi.data());
                }
            }
            offset += ENTRY_SIZE;
        }
    }
}
