package dev.jvirt.block;

import java.nio.file.Path;
import java.util.Random;

/** Writes random data into a qcow2 image until killed; the crash-consistency test kills it. */
public final class CrashWriter {

    private CrashWriter() {
    }

    public static void main(String[] args) throws Exception {
        Path path = Path.of(args[0]);
        Random random = new Random(Long.parseLong(args[1]));
        try (BlockDriver image = Images.open(path, OpenOptions.forWriting())) {
            System.out.println("writing");
            System.out.flush();
            byte[] data = new byte[256 << 10];
            while (true) {
                random.nextBytes(data);
                int length = 512 + random.nextInt(data.length - 512);
                long at = (long) random.nextInt((int) (image.size() - length));
                if (random.nextInt(10) == 0) {
                    image.writeZeroes(at & ~0xFFFFL, 128 << 10);
                } else {
                    image.write(at, data, 0, length);
                }
            }
        }
    }
}
