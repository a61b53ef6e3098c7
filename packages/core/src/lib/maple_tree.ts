/**
 * A range tree with gap tracking: the structure behind an address space's VMAs.
 *
 * Models the maple tree (`lib/maple_tree.c`, `include/linux/maple_tree.h`, Linux 6.16) as
 * `mm->mm_mt` uses it: it holds non-overlapping half-open ranges `[start, end)`, finds the one
 * holding an address (`mtree_load()`), the first one meeting a range (`mt_find()`), a range's
 * neighbours (`mas_prev()`, `mas_next()`), and the lowest or highest free gap of a given size in
 * a window (`mas_empty_area()`, `mas_empty_area_rev()`), each in O(log n). Like the maple tree,
 * every node records the largest gap below it, so the gap searches skip every subtree too full to
 * hold the size asked for.
 *
 * The kernel's tree is a B-tree of up to 16 slots per node; this one is a binary search tree kept
 * balanced as a treap (each node a pseudo-random priority above its children's), which gives the
 * same O(log n) bounds with less code. Its priorities come from a fixed sequence, so a tree built
 * by the same calls has the same shape every time. The shape never shows in any answer.
 *
 * @module
 */

/**
 * What a {@link MapleTree} holds: a half-open range `[start, end)` with `start < end`, read from
 * the entry itself (a VMA's `vm_start` and `vm_end`).
 *
 * @category Lists
 */
export interface MapleRange {
  readonly start: number;
  readonly end: number;
}

/**
 * A free range `[start, end)`, as {@link MapleTree.emptyArea} and
 * {@link MapleTree.emptyAreaRev} find it, clipped to the window searched.
 *
 * @category Lists
 */
export interface MapleGap {
  readonly start: number;
  readonly end: number;
}

interface MapleNode<T extends MapleRange> {
  readonly entry: T;
  readonly prio: number;
  left: MapleNode<T> | null;
  right: MapleNode<T> | null;
  /** The lowest start in this subtree. */
  first: number;
  /** The highest end in this subtree. */
  last: number;
  /** The largest gap between two entries of this subtree (`ma_gaps`): 0 for one entry. */
  gap: number;
}

/** Recomputes `node`'s summary from its entry and children. */
const pull = <T extends MapleRange>(node: MapleNode<T>): void => {
  const { entry, left, right } = node;
  let gap = 0;
  node.first = entry.start;
  node.last = entry.end;
  if (left) {
    node.first = left.first;
    gap = Math.max(left.gap, entry.start - left.last);
  }
  if (right) {
    node.last = right.last;
    gap = Math.max(gap, right.gap, right.first - entry.end);
  }
  node.gap = gap;
};

/** Splits a subtree into the entries that start below `key` and those from it up. */
const split = <T extends MapleRange>(
  node: MapleNode<T> | null,
  key: number,
): [MapleNode<T> | null, MapleNode<T> | null] => {
  if (!node) return [null, null];
  if (node.entry.start < key) {
    const [l, r] = split(node.right, key);
    node.right = l;
    pull(node);
    return [node, r];
  }
  const [l, r] = split(node.left, key);
  node.left = r;
  pull(node);
  return [l, node];
};

/** Joins two subtrees, every entry of `a` below every entry of `b`. */
const merge = <T extends MapleRange>(
  a: MapleNode<T> | null,
  b: MapleNode<T> | null,
): MapleNode<T> | null => {
  if (!a) return b;
  if (!b) return a;
  if (a.prio > b.prio) {
    a.right = merge(a.right, b);
    pull(a);
    return a;
  }
  b.left = merge(a, b.left);
  pull(b);
  return b;
};

/**
 * A maple tree of non-overlapping ranges (`struct maple_tree`, `include/linux/maple_tree.h`), with
 * the gap tracking of an allocation tree (`MT_FLAGS_ALLOC_RANGE`). The free gaps are the
 * addresses from 0 up that no entry holds. An entry whose `start` or `end` changes in place must
 * be handed to {@link MapleTree.adjust}, without passing another entry; the order of the entries
 * then still holds.
 *
 * @category Lists
 * @example
 * ```ts
 * import { MapleTree } from "@migrate-offload/core";
 *
 * const mt = new MapleTree<{ start: number; end: number }>();
 * mt.insert({ start: 0x1000, end: 0x3000 });
 * mt.insert({ start: 0x8000, end: 0x9000 });
 * console.log(mt.load(0x2fff)); // { start: 4096, end: 12288 }
 * // The highest free range of 8 KiB or more below 0x10000: above the second entry.
 * console.log(mt.emptyAreaRev(0x1000, 0x10000, 0x2000)); // { start: 36864, end: 65536 }
 * ```
 */
export class MapleTree<T extends MapleRange> {
  private root: MapleNode<T> | null = null;
  private count = 0;
  private seed = 0x9e3779b9;
  /** Counts the insertions and erasures, so a reader can tell whether its copy is stale. */
  generation = 0;

  /** How many entries the tree holds. */
  get size(): number {
    return this.count;
  }

  /** The next priority: a xorshift32 sequence from a fixed seed. */
  private nextPrio(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }

  /** `mtree_load()`: the entry that holds `addr`, or undefined. */
  load(addr: number): T | undefined {
    let node = this.root;
    while (node) {
      if (addr < node.entry.start) node = node.left;
      else if (addr >= node.entry.end) node = node.right;
      else return node.entry;
    }
    return undefined;
  }

  /**
   * `mt_find()`: the lowest entry that meets `[min, max)` (ends above `min` and starts below
   * `max`), or undefined.
   */
  find(min: number, max: number): T | undefined {
    let node = this.root;
    let found: T | undefined;
    while (node) {
      if (node.entry.end > min) {
        found = node.entry;
        node = node.left;
      } else node = node.right;
    }
    return found && found.start < max ? found : undefined;
  }

  /** The entries that meet `[min, max)`, in address order (`mt_for_each()`). */
  range(min: number, max: number): T[] {
    const out: T[] = [];
    const visit = (node: MapleNode<T> | null): void => {
      if (!node) return;
      const { entry } = node;
      if (entry.end > min) visit(node.left);
      if (entry.end > min && entry.start < max) out.push(entry);
      if (entry.start < max) visit(node.right);
    };
    visit(this.root);
    return out;
  }

  /** Every entry, in address order. */
  toArray(): T[] {
    return this.range(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  /** `mas_prev()`: the entry just below `entry` (the last that ends at or below its start). */
  prev(entry: T): T | undefined {
    let node = this.root;
    let found: T | undefined;
    while (node) {
      if (node.entry.end <= entry.start) {
        found = node.entry;
        node = node.right;
      } else node = node.left;
    }
    return found;
  }

  /** `mas_next()`: the entry just above `entry` (the first that starts at or above its end). */
  next(entry: T): T | undefined {
    let node = this.root;
    let found: T | undefined;
    while (node) {
      if (node.entry.start >= entry.end) {
        found = node.entry;
        node = node.left;
      } else node = node.right;
    }
    return found;
  }

  /**
   * `mtree_insert_range()`: adds `entry`. Throws, changing nothing, for an empty range or one
   * that overlaps an entry (`-EEXIST`): a caller's bug, as the kernel's callers never do it.
   */
  insert(entry: T): void {
    if (!(entry.start < entry.end)) {
      throw new RangeError(`maple tree: empty range [${entry.start}, ${entry.end})`);
    }
    const there = this.find(entry.start, entry.end);
    if (there) {
      throw new RangeError(
        `maple tree: [${entry.start}, ${entry.end}) overlaps [${there.start}, ${there.end})`,
      );
    }
    const node: MapleNode<T> = {
      entry,
      prio: this.nextPrio(),
      left: null,
      right: null,
      first: entry.start,
      last: entry.end,
      gap: 0,
    };
    const [l, r] = split(this.root, entry.start);
    this.root = merge(merge(l, node), r);
    this.count++;
    this.generation++;
  }

  /** `mtree_erase()`: removes `entry`. Throws, changing nothing, when it is not in the tree. */
  erase(entry: T): void {
    const path = this.pathTo(entry);
    const node = path.pop()!;
    const joined = merge(node.left, node.right);
    const parent = path.at(-1);
    if (!parent) this.root = joined;
    else if (parent.left === node) parent.left = joined;
    else parent.right = joined;
    for (let i = path.length - 1; i >= 0; i--) pull(path[i]!);
    this.count--;
    this.generation++;
  }

  /**
   * Takes in a change of `entry`'s `start` or `end` (`vma_iter_store()` after
   * `vma_set_range()`): the gaps above it are recomputed. The entry must not have grown over
   * another. Throws when it is not in the tree.
   */
  adjust(entry: T): void {
    const path = this.pathTo(entry);
    for (let i = path.length - 1; i >= 0; i--) pull(path[i]!);
  }

  /** The nodes from the root down to `entry`'s. */
  private pathTo(entry: T): MapleNode<T>[] {
    const path: MapleNode<T>[] = [];
    let node = this.root;
    while (node && node.entry !== entry) {
      path.push(node);
      node = entry.start < node.entry.start ? node.left : node.right;
    }
    if (!node) {
      throw new RangeError(`maple tree: [${entry.start}, ${entry.end}) is not in the tree`);
    }
    path.push(node);
    return path;
  }

  /**
   * `mas_empty_area()`: the lowest free gap that holds at least `size` once clipped to
   * `[min, max)`, clipped; null when none does (`-EBUSY`).
   */
  emptyArea(min: number, max: number, size: number): MapleGap | null {
    return this.search(this.root, 0, Number.POSITIVE_INFINITY, min, max, size, false);
  }

  /**
   * `mas_empty_area_rev()`: the highest free gap that holds at least `size` once clipped to
   * `[min, max)`, clipped; null when none does (`-EBUSY`).
   */
  emptyAreaRev(min: number, max: number, size: number): MapleGap | null {
    return this.search(this.root, 0, Number.POSITIVE_INFINITY, min, max, size, true);
  }

  /**
   * The gap search below `node`, whose entries lie between `before` (the end of the entry below
   * them, or 0) and `after` (the start of the one above, or infinity). A subtree whose whole span
   * clipped to the window, or whose largest gap, is below `size` is skipped.
   */
  private search(
    node: MapleNode<T> | null,
    before: number,
    after: number,
    min: number,
    max: number,
    size: number,
    rev: boolean,
  ): MapleGap | null {
    const start = Math.max(before, min);
    const end = Math.min(after, max);
    if (end - start < size || (size <= 0 && end <= start)) return null;
    if (!node) return { start, end };
    if (Math.max(node.first - before, node.gap, after - node.last) < size) return null;
    const { entry } = node;
    return rev
      ? (this.search(node.right, entry.end, after, min, max, size, rev) ??
          this.search(node.left, before, entry.start, min, max, size, rev))
      : (this.search(node.left, before, entry.start, min, max, size, rev) ??
          this.search(node.right, entry.end, after, min, max, size, rev));
  }
}
