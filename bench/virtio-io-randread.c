/*
 * Guest side of bench/virtio-io: COUNT reads of 4 KiB at pseudo-random 4 KiB-aligned offsets of
 * DEVICE, with O_DIRECT, one at a time (queue depth 1), so every read is one virtio-blk request.
 * The offsets come from a fixed-seed xorshift generator: each VMM sees the same sequence.
 * busybox has no way to read at many offsets from one process (a dd per read would measure
 * fork/exec, not the disk), hence this small static program.
 *
 * usage: virtio-io-randread DEVICE COUNT
 * prints: "randread reads=N bytes=B ns=T", or a message on stderr and status 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DEVICE COUNT\n", argv[0]);
        return 1;
    }
    long count = atol(argv[2]);
    if (count <= 0) {
        fprintf(stderr, "randread: COUNT must be positive: %s\n", argv[2]);
        return 1;
    }
    int fd = open(argv[1], O_RDONLY | O_DIRECT);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < BLOCK) {
        fprintf(stderr, "randread: %s is smaller than one block\n", argv[1]);
        return 1;
    }
    uint64_t blocks = (uint64_t) size / BLOCK;
    void *buffer;
    if (posix_memalign(&buffer, BLOCK, BLOCK) != 0) {
        fprintf(stderr, "randread: no memory\n");
        return 1;
    }
    uint64_t state = 0x9E3779B97F4A7C15ull;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        off_t offset = (off_t) (state % blocks) * BLOCK;
        ssize_t n = pread(fd, buffer, BLOCK, offset);
        if (n != BLOCK) {
            fprintf(stderr, "randread: read %ld at %lld returned %zd\n", i, (long long) offset, n);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    printf("randread reads=%ld bytes=%lld ns=%lld\n", count, (long long) count * BLOCK, ns);
    return 0;
}
