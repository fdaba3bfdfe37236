package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.BlockStatus;
import dev.jvirt.block.Images;
import dev.jvirt.block.OpenOptions;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * {@code compare [-f fmt] [-F fmt] [-s] [-q] [-p] filename1 filename2}, qemu-img's algorithm:
 * walk both images by block status; ranges that read as zeroes in both are equal, ranges both
 * allocate are read and compared 512 bytes at a time, a range only one allocates must read as
 * zeroes. A longer image's tail must read as zeroes too (with a warning), unless -s makes any size
 * difference, or any allocation difference, a mismatch. Exit status: 0 identical, 1 different, 2
 * an image could not be opened, 3 block status failed, 4 a read failed.
 */
final class CompareCommand {

    private static final int IO_BUF_SIZE = 2 << 20;
    private static final int SECTOR = 512;

    private CompareCommand() {
    }

    static int run(List<String> args, PrintStream out, PrintStream err) throws UsageException {
        Arguments a = Arguments.parse("compare", args, Set.of("-f", "-F", "-T", "--object", "--a-format", "--b-format", "--cache"),
                Set.of("-s", "-q", "-p", "-U", "--strict", "--quiet", "--progress", "--force-share", "--image-opts"));
        if (a.positional.size() != 2) {
            throw new UsageException("Expecting two image file names");
        }
        boolean quiet = a.has("-q") || a.has("--quiet");
        boolean strict = a.has("-s") || a.has("--strict");
        boolean progress = (a.has("-p") || a.has("--progress")) && !quiet;
        String name1 = a.positional.get(0);
        String name2 = a.positional.get(1);
        String format1 = a.has("-f") ? a.get("-f") : a.get("--a-format");
        String format2 = a.has("-F") ? a.get("-F") : a.get("--b-format");
        if (progress) {
            out.print("    (0.00/100%)\r");
        }
        BlockDriver image1 = null;
        BlockDriver image2 = null;
        try {
            try {
                image1 = Images.open(Path.of(name1), OpenOptions.forReading().withFormat(format1));
                image2 = Images.open(Path.of(name2), OpenOptions.forReading().withFormat(format2));
            } catch (IOException e) {
                err.println("jvirt-img: " + e.getMessage());
                return 2;
            }
            int result = new Comparison(image1, name1, image2, name2, strict, quiet ? null : out, err).run();
            if (progress) {
                out.print("    (100.00/100%)\r");
            }
            if (result == 0 && !quiet) {
                out.println("Images are identical.");
            }
            return result;
        } finally {
            closeQuietly(image1);
            closeQuietly(image2);
        }
    }

    private static void closeQuietly(BlockDriver image) {
        if (image != null) {
            try {
                image.close();
            } catch (IOException e) {
                // read-only: nothing was written that closing could lose
            }
        }
    }

    /** One comparison run; {@code out} null in quiet mode. */
    private record Comparison(BlockDriver image1, String name1, BlockDriver image2, String name2, boolean strict,
                              PrintStream out, PrintStream err) {

        int run() {
            long size1 = image1.size();
            long size2 = image2.size();
            long common = Math.min(size1, size2);
            if (strict && size1 != size2) {
                say("Strict mode: Image size mismatch!");
                return 1;
            }
            byte[] buf1 = new byte[IO_BUF_SIZE];
            byte[] buf2 = new byte[IO_BUF_SIZE];
            long offset = 0;
            while (offset < common) {
                BlockStatus status1;
                BlockStatus status2;
                try {
                    status1 = image1.blockStatus(offset, size1 - offset);
                } catch (IOException e) {
                    err.println("jvirt-img: Sector allocation test failed for " + name1);
                    return 3;
                }
                try {
                    status2 = image2.blockStatus(offset, size2 - offset);
                } catch (IOException e) {
                    err.println("jvirt-img: Sector allocation test failed for " + name2);
                    return 3;
                }
                status1 = qemuRun(image1, offset, status1);
                status2 = qemuRun(image2, offset, status2);
                long chunk = Math.min(Math.min(status1.length(), status2.length()), common - offset);
                if (strict && !sameStatus(status1, offset, size1, status2, size2)) {
                    say("Strict mode: Offset " + offset + " block status mismatch!");
                    return 1;
                }
                if (status1.zero() && status2.zero()) {
                    // both read as zeroes
                } else if (status1.allocated() == status2.allocated()) {
                    if (status1.allocated()) {
                        chunk = Math.min(chunk, IO_BUF_SIZE);
                        int length = (int) chunk;
                        if (!read(image1, name1, offset, buf1, length) || !read(image2, name2, offset, buf2, length)) {
                            return 4;
                        }
                        long mismatch = firstDifferentSector(buf1, buf2, length);
                        if (mismatch >= 0) {
                            say("Content mismatch at offset " + (offset + mismatch) + "!");
                            return 1;
                        }
                    }
                } else {
                    chunk = Math.min(chunk, IO_BUF_SIZE);
                    int result = status1.allocated() ? checkEmpty(image1, name1, offset, (int) chunk, buf1)
                            : checkEmpty(image2, name2, offset, (int) chunk, buf1);
                    if (result != 0) {
                        return result;
                    }
                }
                offset += chunk;
            }
            if (size1 != size2) {
                say("Warning: Image size mismatch!");
                BlockDriver over = size1 > size2 ? image1 : image2;
                String overName = size1 > size2 ? name1 : name2;
                long end = Math.max(size1, size2);
                while (offset < end) {
                    BlockStatus status;
                    try {
                        status = over.blockStatus(offset, end - offset);
                    } catch (IOException e) {
                        err.println("jvirt-img: Sector allocation test failed for " + overName);
                        return 3;
                    }
                    long chunk = Math.min(status.length(), end - offset);
                    if (status.allocated() && !status.zero()) {
                        chunk = Math.min(chunk, IO_BUF_SIZE);
                        int result = checkEmpty(over, overName, offset, (int) chunk, buf1);
                        if (result != 0) {
                            return result;
                        }
                    }
                    offset += chunk;
                }
            }
            return 0;
        }

        /**
         * What -s compares: QEMU's block status flags (data, zero, allocated, offset known, and
         * whether the run reaches the end of the image).
         */
        private static boolean sameStatus(BlockStatus a, long offset, long size1, BlockStatus b, long size2) {
            return a.data() == b.data() && a.zero() == b.zero() && a.allocated() == b.allocated()
                    && (a.hostOffset() >= 0) == (b.hostOffset() >= 0)
                    && (offset + a.length() == size1) == (offset + b.length() == size2);
        }

        /**
         * QEMU's qcow2 driver answers for at most one L2 table at a time, which decides where its
         * runs (and so its end-of-image flag) stop; ours merge further, so cut them the same way.
         */
        private static BlockStatus qemuRun(BlockDriver image, long offset, BlockStatus status) {
            if (!(image instanceof Qcow2Image qcow2)) {
                return status;
            }
            long coverage = (long) qcow2.header().clusterSize() * (qcow2.header().clusterSize() / 8);
            long limit = (offset / coverage + 1) * coverage - offset;
            if (status.length() <= limit) {
                return status;
            }
            return new BlockStatus(limit, status.data(), status.zero(), status.allocated(), status.depth(), status.hostOffset());
        }

        private boolean read(BlockDriver image, String name, long offset, byte[] buffer, int length) {
            try {
                image.read(offset, buffer, 0, length);
                return true;
            } catch (IOException e) {
                err.println("jvirt-img: Error while reading offset " + offset + " of " + name + ": " + e.getMessage());
                return false;
            }
        }

        private int checkEmpty(BlockDriver image, String name, long offset, int length, byte[] buffer) {
            if (!read(image, name, offset, buffer, length)) {
                return 4;
            }
            for (int sector = 0; sector < length; sector += SECTOR) {
                int end = Math.min(length, sector + SECTOR);
                for (int i = sector; i < end; i++) {
                    if (buffer[i] != 0) {
                        say("Content mismatch at offset " + (offset + sector) + "!");
                        return 1;
                    }
                }
            }
            return 0;
        }

        /** The start of the first 512-byte sector that differs, or -1. */
        private static long firstDifferentSector(byte[] a, byte[] b, int length) {
            for (int sector = 0; sector < length; sector += SECTOR) {
                int end = Math.min(length, sector + SECTOR);
                if (!Arrays.equals(a, sector, end, b, sector, end)) {
                    return sector;
                }
            }
            return -1;
        }

        private void say(String line) {
            if (out != null) {
                out.println(line);
            }
        }
    }
}
