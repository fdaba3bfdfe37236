package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.ReadOnlyImage;
import dev.jvirt.block.qcow2.Qcow2Header;
import dev.jvirt.block.qcow2.Qcow2Image;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What {@code qemu-img info} reports about one image, with qemu-img's JSON field names. */
final class ImageInfo {

    private ImageInfo() {
    }

    static Map<String, Object> describe(String filename, BlockDriver image) throws IOException {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("virtual-size", image.size());
        info.put("filename", filename);
        if (image instanceof Qcow2Image qcow2) {
            Qcow2Header header = qcow2.header();
            info.put("cluster-size", header.clusterSize());
            info.put("format", "qcow2");
            info.put("actual-size", allocatedBytes(Path.of(filename)));
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("compat", header.version() == 3 ? "1.1" : "0.10");
            data.put("compression-type", header.compressionTypeName());
            if (header.version() == 3) {
                data.put("lazy-refcounts", header.lazyRefcounts());
            }
            data.put("refcount-bits", header.refcountBits());
            if (header.version() == 3) {
                data.put("corrupt", header.corrupt());
                data.put("extended-l2", false);
            }
            // In qemu-img's order ("type" first): Map.of's order changes from run to run.
            Map<String, Object> specific = new LinkedHashMap<>();
            specific.put("type", "qcow2");
            specific.put("data", data);
            info.put("format-specific", specific);
            if (header.backingFile() != null) {
                if (header.backingFormat() != null) {
                    info.put("backing-filename-format", header.backingFormat());
                }
                info.put("full-backing-filename", fullBackingName(filename, header.backingFile()));
                info.put("backing-filename", header.backingFile());
            }
            info.put("dirty-flag", header.dirty());
            if (header.snapshotCount() > 0) {
                // qemu-img prints "snapshots" near the top of the JSON.
                Map<String, Object> withSnapshots = new LinkedHashMap<>();
                withSnapshots.put("snapshots", SnapshotListing.describe(qcow2.snapshots()));
                withSnapshots.putAll(info);
                info = withSnapshots;
            }
        } else if (image instanceof ReadOnlyImage imported) {
            ImportInfo.describe(info, filename, imported);
        } else {
            info.put("format", image.format());
            info.put("actual-size", allocatedBytes(Path.of(filename)));
            info.put("dirty-flag", false);
        }
        return info;
    }

    /** The backing file name as QEMU composes it: relative names are joined to the overlay's directory as written. */
    static String fullBackingName(String overlay, String backing) {
        if (backing.startsWith("/")) {
            return backing;
        }
        int slash = overlay.lastIndexOf('/');
        return slash < 0 ? backing : overlay.substring(0, slash + 1) + backing;
    }

    /**
     * Bytes the file occupies on disk (st_blocks * 512). The JDK does not expose st_blocks and this
     * module makes no native calls, so ask coreutils' stat.
     */
    static long allocatedBytes(Path path) throws IOException {
        try {
            Process stat = new ProcessBuilder("stat", "--format=%b %B", path.toString()).redirectErrorStream(true).start();
            String[] fields = new String(stat.getInputStream().readAllBytes()).trim().split(" ");
            if (stat.waitFor() == 0 && fields.length == 2) {
                return Long.parseLong(fields[0]) * Long.parseLong(fields[1]);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (NumberFormatException e) {
            // fall through to the apparent size
        }
        return java.nio.file.Files.size(path);
    }

    static String human(Map<String, Object> info) {
        StringBuilder text = new StringBuilder();
        long size = (Long) info.get("virtual-size");
        text.append("image: ").append(info.get("filename")).append('\n');
        text.append("file format: ").append(info.get("format")).append('\n');
        text.append("virtual size: ").append(Sizes.human(size)).append(" (").append(size).append(" bytes)\n");
        text.append("disk size: ").append(Sizes.human((Long) info.get("actual-size"))).append('\n');
        if (info.containsKey("cluster-size")) {
            text.append("cluster_size: ").append(info.get("cluster-size")).append('\n');
        }
        if (info.containsKey("backing-filename")) {
            text.append("backing file: ").append(info.get("backing-filename"));
            if (!info.get("backing-filename").equals(info.get("full-backing-filename"))) {
                text.append(" (actual path: ").append(info.get("full-backing-filename")).append(')');
            }
            text.append('\n');
            if (info.containsKey("backing-filename-format")) {
                text.append("backing file format: ").append(info.get("backing-filename-format")).append('\n');
            }
        }
        if (info.get("snapshots") instanceof List<?> snapshots) {
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> rows = (List<Map<String, Object>>) snapshots;
            text.append(SnapshotListing.human(rows));
        }
        if (info.get("format-specific") instanceof Map<?, ?> specific) {
            text.append("Format specific information:\n");
            for (Map.Entry<?, ?> field : ((Map<?, ?>) specific.get("data")).entrySet()) {
                if (field.getValue() instanceof java.util.List<?> list) {
                    ImportInfo.appendHumanList(text, "    ", field.getKey().toString(), list);
                    continue;
                }
                text.append("    ").append(field.getKey().toString().replace('-', ' ')).append(": ").append(field.getValue()).append('\n');
            }
        }
        return text.toString();
    }
}
