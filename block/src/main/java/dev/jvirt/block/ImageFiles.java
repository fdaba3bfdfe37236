package dev.jvirt.block;

import com.sun.nio.file.ExtendedOpenOption;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;

/**
 * Opens the file under an image driver the way its cache mode asks, as QEMU's file-posix does:
 * with O_DIRECT for cache=none and cache=directsync (plus O_DSYNC for directsync, so each write
 * is durable when it returns), through the page cache otherwise.
 */
public final class ImageFiles {

    private ImageFiles() {
    }

    /**
     * The channel an image driver reads and writes {@code path} through. For the direct modes it is
     * a {@link DirectFileChannel}, which accepts any offset and length. A file system that refuses
     * O_DIRECT fails the open with QEMU's message; there is deliberately no fallback to the page
     * cache, since a user who asked for cache=none relies on the host not caching the image.
     */
    public static FileChannel open(Path path, boolean readOnly, CacheMode cache) throws IOException {
        Set<OpenOption> options = new HashSet<>();
        options.add(StandardOpenOption.READ);
        if (!readOnly) {
            options.add(StandardOpenOption.WRITE);
        }
        if (!cache.direct()) {
            return FileChannel.open(path, options);
        }
        options.add(ExtendedOpenOption.DIRECT);
        if (!readOnly && cache == CacheMode.DIRECTSYNC) {
            options.add(StandardOpenOption.DSYNC);
        }
        FileChannel file;
        try {
            file = FileChannel.open(path, options);
        } catch (FileSystemException e) {
            // open(2) answers EINVAL for O_DIRECT where the file system has no direct I/O.
            if ("Invalid argument".equals(e.getReason())) {
                throw new ImageException("Could not open '" + path + "': filesystem does not support O_DIRECT");
            }
            throw e;
        }
        try {
            // The JDK checks direct I/O against the same statvfs fragment size.
            long blockSize = Files.getFileStore(path).getBlockSize();
            if (!DirectFileChannel.supportsAlignment(blockSize)) {
                throw new ImageException("Could not open '" + path + "': O_DIRECT with a " + blockSize
                        + "-byte file system block size is not supported");
            }
            return new DirectFileChannel(file, (int) blockSize);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }
}
