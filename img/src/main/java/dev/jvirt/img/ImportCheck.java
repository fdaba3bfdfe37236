package dev.jvirt.img;

import dev.jvirt.block.BlockDriver;
import dev.jvirt.block.qcow2.Qcow2Checker;
import dev.jvirt.block.vdi.VdiImage;
import dev.jvirt.block.vmdk.VmdkImage;

import java.io.IOException;
import java.util.List;

/**
 * qemu-img check for the import formats that qemu-img checks (vdi, vmdk): read-only consistency
 * checks whose errors count as corruptions. vpc has no check in qemu-img, and none of them can be
 * repaired there, so -r and vpc get qemu-img's "This image format does not support checks".
 */
final class ImportCheck {

    private ImportCheck() {
    }

    static boolean supports(BlockDriver image) {
        return image instanceof VdiImage || image instanceof VmdkImage;
    }

    static Qcow2Checker.Report check(BlockDriver image) throws IOException {
        List<String> errors = switch (image) {
            case VdiImage vdi -> vdi.check();
            case VmdkImage vmdk -> vmdk.check();
            default -> throw new IllegalArgumentException(image.format() + " has no check");
        };
        return new Qcow2Checker.Report(errors.size(), 0, 0, 0, 0, 0, 0, 0, 0, 0, errors);
    }
}
