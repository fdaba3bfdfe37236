package dev.jvirt.kvm;

/**
 * One entry of the VM's GSI routing table (struct kvm_irq_routing_entry): what asserting a GSI
 * does, either driving a pin of the in-kernel PIC or IOAPIC or sending an MSI message.
 * A GSI may carry several routes (on x86 the ISA GSIs drive a PIC pin and an IOAPIC pin), but
 * at most one per irqchip.
 */
public sealed interface GsiRoute permits GsiRoute.Irqchip, GsiRoute.Msi {

    /** KVM_IRQCHIP_* numbers of struct kvm_irq_routing_irqchip. */
    int PIC_MASTER = 0;
    int PIC_SLAVE = 1;
    int IOAPIC = 2;

    /** Pins of each chip: 8 per i8259, 24 on KVM's IOAPIC (KVM_IOAPIC_NUM_PINS). */
    int PIC_PINS = 8;
    int IOAPIC_PINS = 24;

    int gsi();

    /** Asserting {@code gsi} drives {@code pin} of {@code irqchip} (one of PIC_MASTER, PIC_SLAVE, IOAPIC). */
    record Irqchip(int gsi, int irqchip, int pin) implements GsiRoute {
        public Irqchip {
            checkGsi(gsi);
            int pins = switch (irqchip) {
                case PIC_MASTER, PIC_SLAVE -> PIC_PINS;
                case IOAPIC -> IOAPIC_PINS;
                default -> throw new IllegalArgumentException("irqchip " + irqchip + " is not PIC master (0), PIC slave (1) or IOAPIC (2)");
            };
            if (pin < 0 || pin >= pins) {
                throw new IllegalArgumentException("pin " + pin + " is outside irqchip " + irqchip + "'s 0.." + (pins - 1));
            }
        }
    }

    /** Asserting {@code gsi} sends the MSI message {@code data} to {@code address}. */
    record Msi(int gsi, long address, int data) implements GsiRoute {
        public Msi {
            checkGsi(gsi);
        }
    }

    private static void checkGsi(int gsi) {
        if (gsi < 0) {
            throw new IllegalArgumentException("GSI " + gsi + " is negative");
        }
    }
}
