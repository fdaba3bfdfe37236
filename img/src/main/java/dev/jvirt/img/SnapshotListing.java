package dev.jvirt.img;

import dev.jvirt.block.qcow2.Qcow2Snapshot;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How qemu-img shows internal snapshots: the "snapshots" array of info's JSON, and the table that
 * snapshot -l and human info print (QEMU's bdrv_snapshot_dump, column for column).
 */
final class SnapshotListing {

    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private SnapshotListing() {
    }

    /** One map per snapshot, keys in the order qemu-img prints them; icount only when known (not -1). */
    static List<Map<String, Object>> describe(List<Qcow2Snapshot> snapshots) {
        List<Map<String, Object>> described = new ArrayList<>();
        for (Qcow2Snapshot snapshot : snapshots) {
            Map<String, Object> info = new LinkedHashMap<>();
            if (snapshot.icount() != -1) {
                info.put("icount", snapshot.icount());
            }
            info.put("vm-clock-nsec", Long.remainderUnsigned(snapshot.vmClockNanos(), NANOS_PER_SECOND));
            // QEMU copies names and IDs into fixed buffers (256 and 128 bytes) before showing them.
            info.put("name", cut(snapshot.name(), 255));
            info.put("date-sec", snapshot.dateSeconds());
            info.put("date-nsec", snapshot.dateNanos());
            info.put("vm-clock-sec", Long.divideUnsigned(snapshot.vmClockNanos(), NANOS_PER_SECOND));
            info.put("id", cut(snapshot.id(), 127));
            info.put("vm-state-size", snapshot.vmStateSize());
            described.add(info);
        }
        return described;
    }

    /** "Snapshot list:", the header and a row per snapshot; nothing at all when there are none. */
    static String human(List<Map<String, Object>> snapshots) {
        if (snapshots.isEmpty()) {
            return "";
        }
        StringBuilder text = new StringBuilder("Snapshot list:\n");
        text.append(pad("ID", 10)).append(pad("TAG", 17)).append(right("VM SIZE", 8)).append(right("DATE", 20))
                .append(right("VM CLOCK", 13)).append(right("ICOUNT", 11)).append('\n');
        for (Map<String, Object> snapshot : snapshots) {
            long seconds = (Long) snapshot.get("vm-clock-sec");
            long millis = (Long) snapshot.get("vm-clock-nsec") / 1_000_000;
            String clock = "%02d:%02d:%02d.%03d".formatted((int) (seconds / 3600), (int) ((seconds / 60) % 60), (int) (seconds % 60), (int) millis);
            String date = DATE.format(Instant.ofEpochSecond((Long) snapshot.get("date-sec")).atZone(ZoneId.systemDefault()));
            Object icount = snapshot.get("icount");
            text.append(pad((String) snapshot.get("id"), 9)).append(' ').append(pad((String) snapshot.get("name"), 16)).append(' ')
                    .append(right(Sizes.human((Long) snapshot.get("vm-state-size")), 8)).append(right(date, 20))
                    .append(right(clock, 13)).append(right(icount == null ? "" : icount.toString(), 11)).append('\n');
        }
        return text.toString();
    }

    /** printf's %-Ns: padded to N bytes, as C counts them, so non-ASCII names line up as in qemu-img. */
    private static String pad(String text, int width) {
        return text + " ".repeat(Math.max(0, width - text.getBytes(StandardCharsets.UTF_8).length));
    }

    private static String right(String text, int width) {
        return " ".repeat(Math.max(0, width - text.getBytes(StandardCharsets.UTF_8).length)) + text;
    }

    /** At most {@code bytes} bytes of UTF-8, as pstrcpy would leave (cut at a character boundary). */
    private static String cut(String text, int bytes) {
        if (text.getBytes(StandardCharsets.UTF_8).length <= bytes) {
            return text;
        }
        int end = 0;
        int used = 0;
        while (end < text.length()) {
            int codePoint = text.codePointAt(end);
            int length = new String(Character.toChars(codePoint)).getBytes(StandardCharsets.UTF_8).length;
            if (used + length > bytes) {
                break;
            }
            used += length;
            end += Character.charCount(codePoint);
        }
        return text.substring(0, end);
    }
}
