/**
 * The NUMA node devices in sysfs.
 *
 * Models `drivers/base/node.c`: `/sys/devices/system/node/` with the node state masks
 * (`possible`, `online`, `has_memory`, `has_normal_memory`) and, per node, `node<N>/meminfo` and
 * `node<N>/distance` and `node<N>/memory_failure/{total,ignored,failed,delayed,recovered}`.
 *
 * @module
 */
import { showValKb } from "../../fs/proc";
import type { Kernel } from "../../include/kernel";
import { formatNodeList } from "../../lib/nodemask";
import { hugetlbReportNodeMeminfo } from "../../mm/hugetlb";
import { nodesWithMemory } from "../../mm/memory_hotplug";

/** Registers every node device and the node state masks (`register_one_node()`, `node_dev_init()`). */
export const createNodeSysfs = (k: Kernel): void => {
  const all = k.mem.nodes.map((n) => n.nid);
  // has_memory and has_normal_memory follow N_MEMORY (one zone per node), which offlining a
  // node's last memory clears and onlining sets again (node_states_clear_node()).
  const withMemory = () => nodesWithMemory(k);
  const list = (nodes: () => number[]) => ({
    mode: 0o444,
    show: () => `${formatNodeList(nodes())}\n`,
  });
  k.fs.addAttributes("/sys/devices/system/node", {
    possible: list(() => all),
    online: list(() => all),
    has_memory: list(withMemory),
    has_normal_memory: list(withMemory),
  });
  for (const node of k.mem.nodes) {
    const zone = k.pageAlloc.zones[node.nid]!;
    k.fs.addAttributes(`/sys/devices/system/node/node${node.nid}`, {
      meminfo: {
        mode: 0o444,
        show: () =>
          // node_read_meminfo(): MemTotal is the node's managed pages (si_meminfo_node()).
          `Node ${node.nid} MemTotal:       ${showValKb(k, zone.managedPages)}\n` +
          `Node ${node.nid} MemFree:        ${showValKb(k, zone.freePages)}\n` +
          `Node ${node.nid} MemUsed:        ${showValKb(k, zone.managedPages - zone.freePages)}\n` +
          hugetlbReportNodeMeminfo(k, node.nid),
      },
      distance: {
        mode: 0o444,
        show: () => `${all.map((to) => k.distance(node.nid, to)).join(" ")}\n`,
      },
    });
    // memory_failure_attr_group (drivers/base/node.c): one read-only count per file.
    const stats = zone.mfStats;
    const stat = (key: keyof typeof stats) => ({ mode: 0o444, show: () => `${stats[key]}\n` });
    k.fs.addAttributes(`/sys/devices/system/node/node${node.nid}/memory_failure`, {
      total: stat("total"),
      ignored: stat("ignored"),
      failed: stat("failed"),
      delayed: stat("delayed"),
      recovered: stat("recovered"),
    });
  }
};
