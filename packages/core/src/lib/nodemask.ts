/**
 * Node lists in the kernel's text format.
 *
 * Models `bitmap_print_list_to_buf()` / `nodelist_parse()` (`lib/bitmap-str.c`): a set of node
 * ids is printed as comma-separated ranges, `"0-1,3"`, as `/sys/devices/system/node/online` shows.
 *
 * @module
 */

/**
 * Prints sorted node ids as ranges: `[0, 1, 3]` → `"0-1,3"` (`%*pbl`). Models
 * `bitmap_print_list_to_buf()` (`lib/bitmap-str.c`) over a `nodemask_t`
 * (`include/linux/nodemask.h`).
 *
 * @category sysfs and procfs
 */
export const formatNodeList = (nodes: Iterable<number>): string => {
  const sorted = [...new Set(nodes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
};
