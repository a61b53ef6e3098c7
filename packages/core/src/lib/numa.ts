/**
 * NUMA constants.
 *
 * Models `include/linux/numa.h` and `include/linux/topology.h`.
 *
 * @module
 */

/**
 * `MAX_NUMNODES` (`include/linux/numa.h`) with `CONFIG_NODES_SHIFT=6`.
 *
 * @category Memory and folios
 */
export const MAX_NUMNODES = 64;
/**
 * `LOCAL_DISTANCE` (`include/linux/topology.h`): a node's distance to itself.
 *
 * @category Memory and folios
 */
export const LOCAL_DISTANCE = 10;
/**
 * `REMOTE_DISTANCE` (`include/linux/topology.h`): the default distance between two nodes.
 *
 * @category Memory and folios
 */
export const REMOTE_DISTANCE = 20;
/**
 * `NUMA_NO_NODE` (`include/linux/numa.h`): no node. `do_pages_move()` uses it for "no run is
 * being queued".
 *
 * @category Memory and folios
 */
export const NUMA_NO_NODE = -1;
