import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FolioList, ListSpace } from "../../src/lib/list";

describe("FolioList (list_head)", () => {
  it("adds at both ends, moves, deletes and splices in O(1) steps", () => {
    const space = new ListSpace(16);
    const a = new FolioList(space);
    const b = new FolioList(space);
    expect(a.isEmpty).toBe(true);
    expect(a.first).toBe(-1);
    a.addTail(1);
    a.addTail(2);
    a.add(0);
    expect([...a]).toEqual([0, 1, 2]);
    expect(a.first).toBe(0);
    expect(a.last).toBe(2);
    b.moveTail(1);
    expect([...a]).toEqual([0, 2]);
    expect([...b]).toEqual([1]);
    b.move(2);
    expect([...b]).toEqual([2, 1]);
    a.del(0);
    expect(a.isEmpty).toBe(true);
    expect(space.isLinked(0)).toBe(false);
    a.addTail(5);
    a.spliceTail(b);
    expect([...a]).toEqual([5, 2, 1]);
    expect(b.isEmpty).toBe(true);
    expect(a.count()).toBe(3);
  });

  it("walks entry by entry with list_next_entry, ending after the last", () => {
    const space = new ListSpace(8);
    const list = new FolioList(space);
    for (const pfn of [4, 1, 6]) list.addTail(pfn);
    const walked: number[] = [];
    for (let pfn = list.first; pfn >= 0; pfn = list.next(pfn)) walked.push(pfn);
    expect(walked).toEqual([4, 1, 6]);
    expect(list.next(6)).toBe(-1);
  });

  it("allows deleting the current entry while iterating (list_for_each_entry_safe)", () => {
    const space = new ListSpace(8);
    const list = new FolioList(space);
    const other = new FolioList(space);
    for (let i = 0; i < 8; i++) list.addTail(i);
    for (const pfn of list) if (pfn % 2 === 0) other.moveTail(pfn);
    expect([...list]).toEqual([1, 3, 5, 7]);
    expect([...other]).toEqual([0, 2, 4, 6]);
  });

  it("grows its head space without disturbing existing lists", () => {
    const space = new ListSpace(4);
    const first = new FolioList(space);
    first.addTail(3);
    first.addTail(1);
    const many = Array.from({ length: 600 }, () => new FolioList(space));
    expect([...first]).toEqual([3, 1]);
    expect(space.headsInUse).toBe(601);
    for (const list of many) list.release();
    expect(space.headsInUse).toBe(1);
  });

  it("frees a head once however often it is released, so no slot is handed out twice", () => {
    const space = new ListSpace(4);
    const a = new FolioList(space);
    a.release();
    a.release();
    expect(space.headsInUse).toBe(0);
    const b = new FolioList(space);
    const c = new FolioList(space);
    expect(b.head).not.toBe(c.head);
    b.addTail(1);
    c.addTail(2);
    expect([...b]).toEqual([1]);
    expect([...c]).toEqual([2]);
  });

  it("stays consistent with an array model under random operations", () => {
    const N = 12;
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("add" as const),
        list: fc.nat(2),
        entry: fc.nat(N - 1),
        tail: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("del" as const), entry: fc.nat(N - 1) }),
      fc.record({ kind: fc.constant("splice" as const), to: fc.nat(2), from: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const space = new ListSpace(N);
        const lists = [new FolioList(space), new FolioList(space), new FolioList(space)];
        const model: number[][] = [[], [], []];
        const where = (e: number) => model.findIndex((l) => l.includes(e));
        for (const o of ops) {
          if (o.kind === "add") {
            const from = where(o.entry);
            if (from >= 0) model[from]!.splice(model[from]!.indexOf(o.entry), 1);
            if (o.tail) model[o.list]!.push(o.entry);
            else model[o.list]!.unshift(o.entry);
            if (from >= 0) o.tail ? lists[o.list]!.moveTail(o.entry) : lists[o.list]!.move(o.entry);
            else o.tail ? lists[o.list]!.addTail(o.entry) : lists[o.list]!.add(o.entry);
          } else if (o.kind === "del") {
            const from = where(o.entry);
            if (from < 0) continue;
            model[from]!.splice(model[from]!.indexOf(o.entry), 1);
            lists[from]!.del(o.entry);
          } else if (o.to !== o.from) {
            model[o.to]!.push(...model[o.from]!.splice(0));
            lists[o.to]!.spliceTail(lists[o.from]!);
          }
          for (let i = 0; i < 3; i++) {
            expect([...lists[i]!]).toEqual(model[i]);
            const backwards: number[] = [];
            for (
              let e = space.prev[lists[i]!.head]! - 1;
              e !== lists[i]!.head;
              e = space.prev[e]! - 1
            )
              backwards.unshift(e);
            expect(backwards).toEqual(model[i]);
          }
          for (let e = 0; e < N; e++) expect(space.isLinked(e)).toBe(where(e) >= 0);
        }
      }),
    );
  });
});
