/**
 * Intrusive doubly linked lists over page frame numbers.
 *
 * Models `include/linux/list.h` as the kernel uses it for `folio->lru`: the links live in the
 * `struct page` arrays themselves, indexed by PFN, so adding, moving and deleting a folio is O(1)
 * and allocates nothing. List heads live in the same index space, above the last PFN, exactly as
 * a `list_head` embedded in some other structure is just another node of the circular list.
 *
 * Links are stored as `index + 1`; `0` means "not on any list" (the kernel poisons with
 * `LIST_POISON1/2` on `list_del`).
 *
 * @module
 */

import { colouredArray } from "./cache";

const INITIAL_HEADS = 256;

/**
 * The link storage shared by every list of one kernel: `next`/`prev` for each PFN, then for each
 * list head. Models the `lru` `list_head` of `struct page` (`include/linux/mm_types.h`; the type
 * is `struct list_head` of `include/linux/types.h`) plus the heads that point into it.
 *
 * @category Lists
 */
export class ListSpace {
  /** `next[i]` is the index after `i`, plus one; 0 when `i` is not linked. */
  next: Int32Array;
  /** `prev[i]` is the index before `i`, plus one; 0 when `i` is not linked. */
  prev: Int32Array;
  private readonly freeHeads: number[] = [];
  private headCapacity = 0;

  /**
   * @param nrPfns how many PFNs have links; heads are numbered from `nrPfns` upward.
   * @param colour the cache colour of `next` ({@link colouredArray}); `prev` takes the next one.
   * Give the links colours of their own beside other arrays indexed by the same PFN.
   */
  constructor(
    readonly nrPfns: number,
    private readonly colour = 0,
  ) {
    this.next = colouredArray(Int32Array, nrPfns + INITIAL_HEADS, colour);
    this.prev = colouredArray(Int32Array, nrPfns + INITIAL_HEADS, colour + 1);
    this.addHeads(INITIAL_HEADS);
  }

  /** Bytes of link storage per PFN (two 32-bit links), for the metadata budget. */
  static readonly BYTES_PER_PFN = 8;

  private addHeads(count: number): void {
    const first = this.nrPfns + this.headCapacity;
    for (let i = count - 1; i >= 0; i--) this.freeHeads.push(first + i);
    this.headCapacity += count;
  }

  /**
   * Takes a head slot and makes it an empty circular list (`INIT_LIST_HEAD()`,
   * `include/linux/list.h`).
   */
  allocHead(): number {
    if (this.freeHeads.length === 0) {
      const grow = this.headCapacity;
      const size = this.nrPfns + this.headCapacity + grow;
      const next = colouredArray(Int32Array, size, this.colour);
      const prev = colouredArray(Int32Array, size, this.colour + 1);
      next.set(this.next);
      prev.set(this.prev);
      this.next = next;
      this.prev = prev;
      this.addHeads(grow);
    }
    const head = this.freeHeads.pop()!;
    this.next[head] = head + 1;
    this.prev[head] = head + 1;
    return head;
  }

  /** Returns a head slot. The list must be empty. */
  freeHead(head: number): void {
    this.next[head] = 0;
    this.prev[head] = 0;
    this.freeHeads.push(head);
  }

  /** Head slots in use, for leak checks. */
  get headsInUse(): number {
    return this.headCapacity - this.freeHeads.length;
  }

  /** True when `entry` is on some list. */
  isLinked(entry: number): boolean {
    return this.next[entry] !== 0;
  }

  /** Links `entry` between `prev` and `next` (`__list_add()`, `include/linux/list.h`). */
  insertBetween(entry: number, prev: number, next: number): void {
    this.next[entry] = next + 1;
    this.prev[entry] = prev + 1;
    this.next[prev] = entry + 1;
    this.prev[next] = entry + 1;
  }

  /** Unlinks `entry` from whatever list holds it (`list_del()`, `include/linux/list.h`). */
  del(entry: number): void {
    const next = this.next[entry]! - 1;
    const prev = this.prev[entry]! - 1;
    this.next[prev] = next + 1;
    this.prev[next] = prev + 1;
    this.next[entry] = 0;
    this.prev[entry] = 0;
  }
}

/** Reused per iterator so that a `for…of` step allocates nothing. */
class ListIterator implements Iterator<number> {
  private readonly result = { done: false, value: 0 } as IteratorResult<number> & {
    done: boolean;
    value: number;
  };
  private cursor: number;
  constructor(
    private readonly space: ListSpace,
    private readonly head: number,
  ) {
    this.cursor = space.next[head]! - 1;
  }
  next(): IteratorResult<number> {
    const entry = this.cursor;
    if (entry === this.head || entry < 0) {
      this.result.done = true;
      this.result.value = 0;
      return this.result;
    }
    // Read the successor first, so the caller may delete or move `entry` (list_for_each_entry_safe).
    this.cursor = this.space.next[entry]! - 1;
    this.result.value = entry;
    return this.result;
  }
  [Symbol.iterator](): Iterator<number> {
    return this;
  }
}

/**
 * A list of folios, named by their head PFNs. Models a `struct list_head` that folios are linked
 * into through `folio->lru`, with the list calls of `include/linux/list.h`: `migrate_pages()` input
 * lists, buddy free areas, LRU lists.
 *
 * A folio is on at most one list at a time. Iteration (`for (const pfn of list)`) is safe
 * against removing or moving the current entry, as `list_for_each_entry_safe` is.
 *
 * @category Lists
 */
export class FolioList implements Iterable<number> {
  /** The head's index in the {@link ListSpace}. */
  readonly head: number;

  constructor(readonly space: ListSpace) {
    this.head = space.allocHead();
  }

  /** `list_empty()` (`include/linux/list.h`). */
  get isEmpty(): boolean {
    return this.space.next[this.head] === this.head + 1;
  }

  /** The first entry, or -1 when empty (`list_first_entry_or_null()`, `include/linux/list.h`). */
  get first(): number {
    const first = this.space.next[this.head]! - 1;
    return first === this.head ? -1 : first;
  }

  /** The last entry, or -1 when empty (`list_last_entry()`, `include/linux/list.h`). */
  get last(): number {
    const last = this.space.prev[this.head]! - 1;
    return last === this.head ? -1 : last;
  }

  /**
   * The entry after `entry` on this list, or -1 after the last one (`list_next_entry()`, with the
   * `list_entry_is_head()` check a walk ends on; both `include/linux/list.h`).
   */
  next(entry: number): number {
    const next = this.space.next[entry]! - 1;
    return next === this.head ? -1 : next;
  }

  /**
   * The entry before `entry` on this list, or -1 before the first one (`list_prev_entry()`, as a
   * reverse walk uses it, `include/linux/list.h`).
   */
  prev(entry: number): number {
    const prev = this.space.prev[entry]! - 1;
    return prev === this.head ? -1 : prev;
  }

  /**
   * `list_rotate_to_front()` (`include/linux/list.h`): turns the list round so that `entry`, one
   * of its entries, comes first, the order otherwise kept.
   */
  rotateToFront(entry: number): void {
    if (this.first === entry) return;
    // list_move_tail() of the head before entry: the head goes between entry's neighbours.
    const { next, prev } = this.space;
    const h = this.head;
    const first = next[h]! - 1;
    const last = prev[h]! - 1;
    const before = prev[entry]! - 1;
    // Close the ring without the head, then open it again before entry.
    next[last] = first + 1;
    prev[first] = last + 1;
    next[before] = h + 1;
    prev[h] = before + 1;
    next[h] = entry + 1;
    prev[entry] = h + 1;
  }

  /** `list_add()` (`include/linux/list.h`): links an unlinked entry at the front. */
  add(entry: number): void {
    this.space.insertBetween(entry, this.head, this.space.next[this.head]! - 1);
  }

  /** `list_add_tail()` (`include/linux/list.h`): links an unlinked entry at the back. */
  addTail(entry: number): void {
    this.space.insertBetween(entry, this.space.prev[this.head]! - 1, this.head);
  }

  /**
   * `list_move()` (`include/linux/list.h`): takes an entry off its current list and adds it at the
   * front of this one.
   */
  move(entry: number): void {
    this.space.del(entry);
    this.add(entry);
  }

  /**
   * `list_move_tail()` (`include/linux/list.h`): takes an entry off its current list and adds it at
   * the back of this one.
   */
  moveTail(entry: number): void {
    this.space.del(entry);
    this.addTail(entry);
  }

  /** `list_del()` (`include/linux/list.h`): unlinks an entry that is on this list. */
  del(entry: number): void {
    this.space.del(entry);
  }

  /**
   * `list_splice_tail_init()` (`include/linux/list.h`): moves every entry of `other` to the back of
   * this list, in order.
   */
  spliceTail(other: FolioList): void {
    if (other.isEmpty) return;
    const { next, prev } = this.space;
    const first = next[other.head]! - 1;
    const last = prev[other.head]! - 1;
    const tail = prev[this.head]! - 1;
    next[tail] = first + 1;
    prev[first] = tail + 1;
    next[last] = this.head + 1;
    prev[this.head] = last + 1;
    next[other.head] = other.head + 1;
    prev[other.head] = other.head + 1;
  }

  /**
   * Counts the entries by walking the list: O(n), for checks and reports (`list_count_nodes()`,
   * `include/linux/list.h`).
   */
  count(): number {
    let n = 0;
    for (let e = this.space.next[this.head]! - 1; e !== this.head; e = this.space.next[e]! - 1) n++;
    return n;
  }

  /** Iterates head PFNs front to back; each step allocates nothing. */
  [Symbol.iterator](): Iterator<number> {
    return new ListIterator(this.space, this.head);
  }

  /** Whether {@link release} has run. */
  #released = false;

  /**
   * Returns the head slot to the space. The list must be empty. A second call does nothing: the
   * slot may already be another list's head, and freeing it again would hand it out twice.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.space.freeHead(this.head);
  }
}
