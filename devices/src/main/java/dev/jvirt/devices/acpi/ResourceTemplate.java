package dev.jvirt.devices.acpi;

import java.io.ByteArrayOutputStream;

/**
 * Builds the byte stream of an ASL ResourceTemplate() (ACPI 6.4, 6.4 "Resource Data Types"),
 * for _CRS objects. Only the descriptors jvirt's devices use.
 */
public final class ResourceTemplate {

    private static final int GENERAL_FLAGS_FIXED_RANGE = 0x0C; // MinFixed | MaxFixed, producer
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** IO(Decode16, base, base, 1, length): a fixed block of ports. */
    public ResourceTemplate io(int base, int length) {
        out.write(0x47);
        out.write(0x01);
        out.writeBytes(Aml.le(base, 2));
        out.writeBytes(Aml.le(base, 2));
        out.write(0x01);
        out.write(length);
        return this;
    }

    /** IRQNoFlags(){irq}: an edge-triggered, active-high ISA interrupt. */
    public ResourceTemplate irq(int irq) {
        out.write(0x22);
        out.writeBytes(Aml.le(1L << irq, 2));
        return this;
    }

    /** WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, count). */
    public ResourceTemplate busNumbers(int min, int max) {
        return wordAddress(2, 0, min, max);
    }

    /** WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, length). */
    public ResourceTemplate ioRange(int min, int max) {
        return wordAddress(1, 0x03, min, max);
    }

    /** DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...). */
    public ResourceTemplate memoryRange(long min, long max) {
        out.write(0x87);
        out.writeBytes(Aml.le(23, 2));
        out.write(0x00);                       // memory range
        out.write(GENERAL_FLAGS_FIXED_RANGE);
        out.write(0x01);                       // read-write, non-cacheable
        out.writeBytes(Aml.le(0, 4));          // granularity
        out.writeBytes(Aml.le(min, 4));
        out.writeBytes(Aml.le(max, 4));
        out.writeBytes(Aml.le(0, 4));          // translation offset
        out.writeBytes(Aml.le(max - min + 1, 4));
        return this;
    }

    private ResourceTemplate wordAddress(int resourceType, int typeFlags, int min, int max) {
        out.write(0x88);
        out.writeBytes(Aml.le(13, 2));
        out.write(resourceType);
        out.write(GENERAL_FLAGS_FIXED_RANGE);
        out.write(typeFlags);
        out.writeBytes(Aml.le(0, 2));          // granularity
        out.writeBytes(Aml.le(min, 2));
        out.writeBytes(Aml.le(max, 2));
        out.writeBytes(Aml.le(0, 2));          // translation offset
        out.writeBytes(Aml.le(max - min + 1, 2));
        return this;
    }

    /** The descriptors followed by an end tag (checksum 0 means "not checksummed", which is allowed). */
    public byte[] toBuffer() {
        byte[] body = Aml.concat(out.toByteArray(), new byte[] {0x79, 0x00});
        return Aml.buffer(body);
    }
}
