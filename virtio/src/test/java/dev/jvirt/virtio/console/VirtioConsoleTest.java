package dev.jvirt.virtio.console;

import dev.jvirt.memory.GuestMemory;
import dev.jvirt.virtio.DeviceContext;
import dev.jvirt.virtio.VirtioFeatures;
import dev.jvirt.virtio.VirtioInterrupts;
import dev.jvirt.virtio.queue.Virtqueue;
import dev.jvirt.virtio.testing.DriverQueue;
import dev.jvirt.virtio.testing.DriverQueue.Buffer;
import dev.jvirt.virtio.testing.TestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Plays Linux's virtio_console driver for hvc0: posts receive buffers, sends output, reads used rings. */
class VirtioConsoleTest {

    private final GuestMemory memory = TestMemory.allocate(1 << 20);
    private final DriverQueue rx = new DriverQueue(memory, 0x1000, 8);
    private final DriverQueue tx = new DriverQueue(memory, 0x40000, 8);
    private final AtomicInteger rxInterrupts = new AtomicInteger();
    private final AtomicInteger txInterrupts = new AtomicInteger();
    private final AtomicInteger configInterrupts = new AtomicInteger();
    private final AtomicInteger resets = new AtomicInteger();
    private final ByteArrayOutputStream output = new ByteArrayOutputStream();

    @AfterEach
    void closeMemory() {
        memory.close();
    }

    /** Output written on the kicking thread, so tests see it at once. */
    private VirtioConsole inline(int inputCapacity) {
        return new VirtioConsole(output, Runnable::run, inputCapacity);
    }

    private VirtioConsole activate(VirtioConsole console) throws Exception {
        Virtqueue receive = rx.deviceQueue(VirtioConsole.QUEUE_SIZE);
        Virtqueue transmit = tx.deviceQueue(VirtioConsole.QUEUE_SIZE);
        receive.activate(memory, false, true);
        transmit.activate(memory, false, true);
        VirtioInterrupts interrupts = new VirtioInterrupts() {
            @Override
            public void usedBuffers(int queue) {
                (queue == VirtioConsole.RECEIVEQ ? rxInterrupts : txInterrupts).incrementAndGet();
            }

            @Override
            public void configChanged() {
                configInterrupts.incrementAndGet();
            }
        };
        console.activate(new DeviceContext(memory, console.deviceFeatures(), List.of(receive, transmit), interrupts, resets::incrementAndGet));
        return console;
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private String guestRead(long address, int length) {
        return new String(memory.read(address, length), StandardCharsets.US_ASCII);
    }

    private int postReceiveBuffer(long address, int length) {
        return rx.addChain(List.of(Buffer.writable(address, length)));
    }

    @Test
    void outputReachesTheStreamInOrder() throws Exception {
        VirtioConsole console = activate(inline(64));
        int first = tx.addChain(List.of(Buffer.readable(tx.allocate(ascii("hello ")), 6)));
        int second = tx.addChain(List.of(Buffer.readable(tx.allocate(ascii("wor")), 3), Buffer.readable(tx.allocate(ascii("ld")), 2)));
        int third = tx.addIndirectChain(List.of(Buffer.readable(tx.allocate(ascii("!\n")), 2)));
        console.queueNotify(VirtioConsole.TRANSMITQ);

        assertEquals("hello world!\n", output.toString(StandardCharsets.US_ASCII));
        assertEquals(new DriverQueue.Used(first, 0), tx.nextUsed());
        assertEquals(new DriverQueue.Used(second, 0), tx.nextUsed());
        assertEquals(new DriverQueue.Used(third, 0), tx.nextUsed());
        assertTrue(txInterrupts.get() >= 1);
    }

    @Test
    void outputQueuedBeforeDriverOkIsWrittenAtActivation() throws Exception {
        int head = tx.addChain(List.of(Buffer.readable(tx.allocate(ascii("early")), 5)));
        activate(inline(64));
        assertEquals("early", output.toString(StandardCharsets.US_ASCII));
        assertEquals(new DriverQueue.Used(head, 0), tx.nextUsed());
    }

    @Test
    void blockingOutputDoesNotHoldTheKickingThread() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        ByteArrayOutputStream written = new ByteArrayOutputStream();
        OutputStream slowTerminal = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                synchronized (written) {
                    written.write(b, off, len);
                }
            }
        };
        VirtioConsole console = activate(new VirtioConsole(slowTerminal));
        int head = tx.addChain(List.of(Buffer.readable(tx.allocate(ascii("login: ")), 7)));

        long start = System.nanoTime();
        console.queueNotify(VirtioConsole.TRANSMITQ);
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(2).toNanos(), "kick returned while the terminal blocks");
        assertNull(tx.nextUsed(), "the buffer is not returned before it was written");

        release.countDown();
        awaitTrue(() -> tx.usedIndex() == 1, "output never finished");
        assertEquals(new DriverQueue.Used(head, 0), tx.nextUsed());
        synchronized (written) {
            assertEquals("login: ", written.toString(StandardCharsets.US_ASCII));
        }
    }

    @Test
    void inputFillsPostedBuffersInOrder() throws Exception {
        VirtioConsole console = activate(inline(64));
        long a = rx.allocate(8);
        long b = rx.allocate(8);
        int first = postReceiveBuffer(a, 8);
        int second = postReceiveBuffer(b, 8);
        console.queueNotify(VirtioConsole.RECEIVEQ);

        assertEquals(12, console.enqueueInput(ascii("hello world!")));
        assertEquals(new DriverQueue.Used(first, 8), rx.nextUsed());
        assertEquals(new DriverQueue.Used(second, 4), rx.nextUsed());
        assertEquals("hello wo", guestRead(a, 8));
        assertEquals("rld!", guestRead(b, 4));
        assertEquals(1, rxInterrupts.get());
        assertEquals(0, console.pendingInput());
    }

    @Test
    void inputWaitsUntilTheDriverPostsBuffers() throws Exception {
        VirtioConsole console = inline(64);
        assertEquals(3, console.enqueueInput(ascii("ab\n")), "typed before the driver is up: kept");
        activate(console);
        assertEquals(3, console.enqueueInput(ascii("cd\n")));
        assertNull(rx.nextUsed(), "no buffers posted yet");
        assertEquals(6, console.pendingInput());

        long buffer = rx.allocate(4096);
        int head = postReceiveBuffer(buffer, 4096);
        console.queueNotify(VirtioConsole.RECEIVEQ);
        assertEquals(new DriverQueue.Used(head, 6), rx.nextUsed());
        assertEquals("ab\ncd\n", guestRead(buffer, 6));
    }

    @Test
    void fullInputBufferBlocksTheFeederWithoutLosingBytes() throws Exception {
        VirtioConsole console = activate(inline(16));
        byte[] text = ascii("0123456789abcdefghijklmnopqrstuvwxyz"); // 36 bytes, more than fits
        assertEquals(16, console.enqueueInput(text, 0, 16));
        assertEquals(0, console.enqueueInput(text, 16, 20), "full: nothing more taken");

        Thread feeder = Thread.ofPlatform().start(() -> {
            try {
                console.enqueueInputFully(text, 16, 20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        awaitTrue(() -> feeder.getState() == Thread.State.WAITING, "feeder should wait, not spin");

        // Like the driver: post a buffer, kick, collect what came back, until all input arrived.
        StringBuilder received = new StringBuilder();
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        long buffer = 0;
        int head = -1;
        while (received.length() < text.length) {
            assertTrue(System.nanoTime() < deadline, "got only " + received);
            if (head < 0) {
                buffer = rx.allocate(10);
                head = postReceiveBuffer(buffer, 10);
                console.queueNotify(VirtioConsole.RECEIVEQ);
            }
            DriverQueue.Used used = rx.nextUsed();
            if (used == null) {
                Thread.sleep(1); // the feeder is refilling; its input fills the posted buffer
                continue;
            }
            assertEquals(head, used.head());
            received.append(guestRead(buffer, used.length()));
            head = -1;
        }
        feeder.join(TimeUnit.SECONDS.toMillis(10));
        assertEquals(new String(text, StandardCharsets.US_ASCII), received.toString());
        assertEquals(0, console.pendingInput());
    }

    @Test
    void inputPumpCopiesAStreamToTheGuest() throws Exception {
        VirtioConsole console = activate(inline(64));
        long buffer = rx.allocate(4096);
        int head = postReceiveBuffer(buffer, 4096);
        Thread pump = console.startInputPump(new ByteArrayInputStream(ascii("root\n")));
        pump.join(TimeUnit.SECONDS.toMillis(10));
        assertEquals(new DriverQueue.Used(head, 5), rx.nextUsed());
        assertEquals("root\n", guestRead(buffer, 5));
    }

    @Test
    void receiveChainWithoutWritableBufferIsReturnedEmptyAndLosesNothing() throws Exception {
        VirtioConsole console = activate(inline(64));
        long bogus = rx.allocate(8);
        long good = rx.allocate(8);
        int readOnly = rx.addChain(List.of(Buffer.readable(bogus, 8)));
        int writable = postReceiveBuffer(good, 8);
        console.enqueueInput(ascii("ok"));
        assertEquals(new DriverQueue.Used(readOnly, 0), rx.nextUsed());
        assertEquals(new DriverQueue.Used(writable, 2), rx.nextUsed());
        assertEquals("ok", guestRead(good, 2));
        assertEquals(0, resets.get());
    }

    @Test
    void brokenRingsNeedResetInsteadOfThrowing() throws Exception {
        VirtioConsole console = activate(inline(64));
        tx.writeDescriptor(0, 0xFFFF_0000L, 16, 0, 0); // outside the 1 MiB of RAM
        tx.publish(0);
        console.queueNotify(VirtioConsole.TRANSMITQ);
        assertEquals(1, resets.get());
        assertEquals("", output.toString(StandardCharsets.US_ASCII));

        rx.setAvailableIndex(100);
        console.enqueueInput(ascii("x"));
        console.queueNotify(VirtioConsole.RECEIVEQ);
        assertEquals(1, resets.get(), "a broken device stays quiet until reset");
        assertNull(rx.nextUsed());
    }

    @Test
    void resetAndReactivationStartsAfresh() throws Exception {
        VirtioConsole console = activate(inline(64));
        console.enqueueInput(ascii("kept"));
        console.reset();
        activate(console);
        long buffer = rx.allocate(16);
        int head = postReceiveBuffer(buffer, 16);
        console.queueNotify(VirtioConsole.RECEIVEQ);
        assertEquals(new DriverQueue.Used(head, 4), rx.nextUsed(), "input survives a driver reset, like unread tty input");
        assertEquals("kept", guestRead(buffer, 4));
    }

    @Test
    void configSpaceReportsOnePortAndTheWindowSize() throws Exception {
        VirtioConsole console = inline(64);
        assertTrue((console.deviceFeatures() & VirtioFeatures.bit(VirtioConsole.F_SIZE)) != 0);
        assertEquals(0, console.deviceFeatures() & VirtioFeatures.bit(VirtioConsole.F_MULTIPORT));
        assertEquals(1, console.readConfig(4, 4), "max_nr_ports");
        console.setWindowSize(132, 43);
        assertEquals(0, configInterrupts.get(), "no driver yet to tell");
        activate(console);
        console.setWindowSize(80, 25);
        assertEquals(1, configInterrupts.get());
        assertEquals(80, console.readConfig(0, 2));
        assertEquals(25, console.readConfig(2, 2));
        assertEquals(80 | (25 << 16), console.readConfig(0, 4));
        console.writeConfig(0, 2, 7);
        assertEquals(80, console.readConfig(0, 2), "cols is read-only");
        console.setWindowSize(80, 25);
        assertEquals(1, configInterrupts.get(), "unchanged size: no interrupt");
    }

    private static void awaitTrue(BooleanSupplier condition, String message) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, message);
            Thread.sleep(5);
        }
    }
}
