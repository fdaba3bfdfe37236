package dev.jvirt.block;

/**
 * A run of the virtual disk with one allocation state, as qemu-img map reports it.
 *
 * @param length     bytes in the run (at least 1)
 * @param data       whether the run holds data (false: reads as zeroes)
 * @param zero       whether the run reads as zeroes
 * @param allocated  whether some layer of the chain decides the content (qemu-img map's "present")
 * @param depth      the layer that decides it: 0 for this image, 1 for its backing file, ...; for
 *                   runs no layer allocates, the depth of the bottom layer
 * @param hostOffset where the data lies in the image file, or -1
 */
public record BlockStatus(long length, boolean data, boolean zero, boolean allocated, int depth, long hostOffset) { }
