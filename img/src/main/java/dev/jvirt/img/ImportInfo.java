package dev.jvirt.img;

import dev.jvirt.block.ReadOnlyImage;
import dev.jvirt.block.vmdk.VmdkImage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The qemu-img info fields of the import formats (vmdk, vdi, vpc), in qemu-img's order. */
final class ImportInfo {

    private ImportInfo() {
    }

    static void describe(Map<String, Object> info, String filename, ReadOnlyImage image) throws IOException {
        if (image.clusterSize() > 0) {
            info.put("cluster-size", image.clusterSize());
        }
        info.put("format", image.format());
        long actual = ImageInfo.allocatedBytes(Path.of(filename));
        if (image instanceof VmdkImage vmdk) {
            // As QEMU's vmdk_get_allocated_file_size: the descriptor plus every extent file of its own.
            for (VmdkImage.ExtentInfo extent : vmdk.extentInfo()) {
                if (!Path.of(extent.filename()).toAbsolutePath().equals(Path.of(filename).toAbsolutePath())) {
                    actual += ImageInfo.allocatedBytes(Path.of(extent.filename()));
                }
            }
            info.put("actual-size", actual);
            Map<String, Object> specific = new LinkedHashMap<>(); // Map.of would not keep qemu-img's field order
            specific.put("type", "vmdk");
            specific.put("data", vmdkData(vmdk));
            info.put("format-specific", specific);
        } else {
            info.put("actual-size", actual);
        }
        info.put("dirty-flag", false);
    }

    private static Map<String, Object> vmdkData(VmdkImage vmdk) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("cid", vmdk.cid());
        data.put("parent-cid", vmdk.parentCid());
        data.put("create-type", vmdk.createType());
        List<Map<String, Object>> extents = new ArrayList<>();
        for (VmdkImage.ExtentInfo extent : vmdk.extentInfo()) {
            Map<String, Object> e = new LinkedHashMap<>();
            if (extent.compressed()) {
                e.put("compressed", true);
            }
            e.put("virtual-size", extent.virtualSize());
            e.put("filename", extent.filename());
            if (extent.clusterSize() > 0) {
                e.put("cluster-size", extent.clusterSize());
            }
            e.put("format", extent.format());
            extents.add(e);
        }
        data.put("extents", extents);
        return data;
    }

    /** A list in the human output, as qemu-img prints the vmdk extents: "[0]:" and the fields indented below. */
    static void appendHumanList(StringBuilder text, String indent, String key, List<?> list) {
        text.append(indent).append(key).append(":\n");
        for (int i = 0; i < list.size(); i++) {
            text.append(indent).append("    [").append(i).append("]:\n");
            if (list.get(i) instanceof Map<?, ?> fields) {
                for (Map.Entry<?, ?> field : fields.entrySet()) {
                    text.append(indent).append("        ").append(field.getKey().toString().replace('-', ' ')).append(": ")
                            .append(field.getValue()).append('\n');
                }
            }
        }
    }
}
