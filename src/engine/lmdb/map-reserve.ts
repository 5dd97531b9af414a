/**
 * Address space every LMDB environment of the gateway maps from the start: 4 GiB.
 *
 * Without it lmdb-js maps 128 KiB and, each time the file outgrows the map, maps it
 * again at twice the size while keeping the earlier mappings (buffers handed out
 * earlier may still point into them). Each of those kept mappings stays resident, so
 * a 127 MB inbox file showed as 303 MB of the process's RSS in a soak. A reservation
 * costs address space only: the file still grows page by page as it is written
 * (it is not extended to this size), and lmdb-js grows the map past it when a file
 * ever needs more.
 */
export const MAP_RESERVE_BYTES = 4 * 1024 ** 3;
