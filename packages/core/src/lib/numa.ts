/**
 * NUMA constants.
 *
 * Models `include/linux/numa.h` and `include/linux/topology.h`.
 *
 * @module
 */

/** `MAX_NUMNODES` with `CONFIG_NODES_SHIFT=6`. */
export const MAX_NUMNODES = 64;
/** `LOCAL_DISTANCE`: a node's distance to itself. */
export const LOCAL_DISTANCE = 10;
/** `REMOTE_DISTANCE`: the default distance between two nodes. */
export const REMOTE_DISTANCE = 20;
