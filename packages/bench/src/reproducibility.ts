/**
 * The seeds' own reproducibility: how far the series' two revisions measured on the same machine
 * class (v4 and v3: AMD Zen 3 EPYC, 2 sockets, 32 cores, PTDMA) disagree on the cells both
 * publish, where a published count row falls where the model's physics says it cannot, and, for
 * each cell a profile misses, its published ± and the neighbouring cells that fall where the
 * prediction does not.
 *
 * Both are facts about the published numbers, before any model: a cell the two revisions put
 * more than 15 % apart cannot be predicted within 15 % of both, and a model built of per-call,
 * per-batch, per-folio and per-byte costs predicts a throughput that rises as one call moves more
 * folios of one size in the same number of batches (when they split evenly over the copier's
 * threads or channels, as the seeds' counts do).
 */
import { max, mean, median } from "simple-statistics";
import { markdownTable } from "./report";
import { type SeedTable, seedTable } from "./seed_tables";
import { BATCH_BYTES, type WhatifTable } from "./whatif";

/** The tables v4 and v3 both publish, the same configurations: v4's id, then v3's. */
export const REVISION_PAIRS: readonly (readonly [string, string])[] = [
  ["v4-1a", "v3-1a"],
  ["v4-1b", "v3-1c"],
  ["v4-count", "v3-count"],
];

/** One published cell: its mean and, where the seed prints one, its ±. GB/s. */
interface Published {
  readonly gbps: number;
  readonly spread?: number;
}

const published = (t: SeedTable, row: number, col: number): Published => {
  const r = t.rows[row]!;
  const spread = r.spread?.[col];
  return spread === undefined ? { gbps: r.gbps[col]! } : { gbps: r.gbps[col]!, spread };
};

/** One cell both revisions publish. */
export interface RevisionCell {
  /** `row/column`, as in both tables (`dcbm 1/1M`). */
  readonly id: string;
  readonly v4: Published;
  readonly v3: Published;
  /** `(v4 − v3) / v3`. */
  readonly change: number;
  /**
   * Whether `v4 ± spread` and `v3 ± spread` do not overlap: the revisions disagree by more than
   * their own published spreads. Absent where either table prints no ±.
   */
  readonly disjoint?: boolean;
}

/** One pair of tables: the shared cells as rows × columns of the v4 table. */
export interface RevisionTable {
  readonly v4: string;
  readonly v3: string;
  readonly rows: readonly string[];
  readonly columns: readonly string[];
  readonly cells: readonly (readonly RevisionCell[])[];
}

/**
 * The cells two tables share (the same row and column labels), each v4 against v3. Throws if
 * the tables share none.
 */
export const revisionTable = (v4Id: string, v3Id: string): RevisionTable => {
  const v4 = seedTable(v4Id);
  const v3 = seedTable(v3Id);
  const rows = v4.rows.map((r) => r.label).filter((l) => v3.rows.some((r) => r.label === l));
  const columns = v4.columns
    .map((c) => c.label)
    .filter((l) => v3.columns.some((c) => c.label === l));
  if (rows.length === 0 || columns.length === 0)
    throw new Error(`${v4Id} and ${v3Id} share no cell`);
  const at = (t: SeedTable, row: string, col: string): Published =>
    published(
      t,
      t.rows.findIndex((r) => r.label === row),
      t.columns.findIndex((c) => c.label === col),
    );
  const cells = rows.map((row) =>
    columns.map((col): RevisionCell => {
      const a = at(v4, row, col);
      const b = at(v3, row, col);
      const cell = { id: `${row}/${col}`, v4: a, v3: b, change: (a.gbps - b.gbps) / b.gbps };
      return a.spread === undefined || b.spread === undefined
        ? cell
        : { ...cell, disjoint: Math.abs(a.gbps - b.gbps) > a.spread + b.spread };
    }),
  );
  return { v4: v4Id, v3: v3Id, rows, columns, cells };
};

/** The spread between the revisions over every shared cell. */
export interface RevisionSummary {
  readonly cells: number;
  /** Cells whose `|change|` exceeds 15 %. */
  readonly over15: number;
  /** Median and mean of `|change|`, and the largest one's cell. */
  readonly medianAbs: number;
  readonly meanAbs: number;
  readonly largest: { readonly table: string; readonly id: string; readonly change: number };
  /** Cells where both revisions print a ±, and of them those whose intervals do not overlap. */
  readonly withSpread: number;
  readonly disjoint: number;
}

/** Summarises revision tables (`simple-statistics`' median, mean and max of `|change|`). */
export const revisionSummary = (
  tables: readonly RevisionTable[],
  within = 0.15,
): RevisionSummary => {
  const all = tables.flatMap((t) => t.cells.flat().map((c) => ({ table: t.v4, cell: c })));
  if (all.length === 0) throw new Error("no shared cell");
  const abs = all.map((x) => Math.abs(x.cell.change));
  const top = max(abs);
  const largest = all.find((x) => Math.abs(x.cell.change) === top)!;
  const spread = all.filter((x) => x.cell.disjoint !== undefined);
  return {
    cells: all.length,
    over15: abs.filter((a) => a > within).length,
    medianAbs: median(abs),
    meanAbs: mean(abs),
    largest: { table: largest.table, id: largest.cell.id, change: largest.cell.change },
    withSpread: spread.length,
    disjoint: spread.filter((x) => x.cell.disjoint).length,
  };
};

/** One fall in a published count row: more folios of one size, fewer GB/s. */
export interface CountDrop {
  readonly table: string;
  readonly row: string;
  /** Folio counts, before and after. */
  readonly from: number;
  readonly to: number;
  readonly before: Published;
  readonly after: Published;
  /** `(after − before) / before`, below 0. */
  readonly change: number;
  /**
   * Whether both counts fit in the same number of 1 GiB batches: then no per-call or per-batch
   * cost can explain the fall, since with a number of batches fixed they weigh less the more
   * folios share them.
   */
  readonly sameBatches: boolean;
  /** Whether the two cells' published ± overlap (absent where the table prints none). */
  readonly withinSpread?: boolean;
  /** Where the other revision publishes the same row and counts: whether it falls there too. */
  readonly otherRevision?: { readonly table: string; readonly falls: boolean };
}

/** Whether a table's columns are folio counts at one folio size. */
const byCount = (t: SeedTable) =>
  t.columns.length > 1 && t.columns.every((c) => c.folioBytes === t.columns[0]!.folioBytes);

/** Every fall between neighbouring counts of the count tables' rows, one copier at one size. */
export const countDrops = (tables: readonly SeedTable[]): CountDrop[] => {
  const twin = new Map(REVISION_PAIRS.flatMap(([a, b]) => [[a, b] as const, [b, a] as const]));
  const cell = (t: SeedTable, row: string, folios: number): number | undefined => {
    const r = t.rows.find((x) => x.label === row);
    const c = t.columns.findIndex((x) => x.folios === folios);
    return r && c >= 0 ? r.gbps[c] : undefined;
  };
  return tables.filter(byCount).flatMap((t) => {
    const batches = (folios: number) =>
      Math.ceil((folios * t.columns[0]!.folioBytes) / BATCH_BYTES);
    const other = twin.has(t.id) ? seedTable(twin.get(t.id)!) : undefined;
    return t.rows.flatMap((r, ri) =>
      t.columns.slice(1).flatMap((c, i): CountDrop[] => {
        const prev = t.columns[i]!;
        const before = published(t, ri, i);
        const after = published(t, ri, i + 1);
        if (after.gbps >= before.gbps) return [];
        const drop: CountDrop = {
          table: t.id,
          row: r.label,
          from: prev.folios,
          to: c.folios,
          before,
          after,
          change: (after.gbps - before.gbps) / before.gbps,
          sameBatches: batches(prev.folios) === batches(c.folios),
        };
        const spreads =
          before.spread === undefined || after.spread === undefined
            ? {}
            : { withinSpread: before.gbps - after.gbps <= before.spread + after.spread };
        const a = other && cell(other, r.label, prev.folios);
        const b = other && cell(other, r.label, c.folios);
        const twinFalls =
          other && a !== undefined && b !== undefined
            ? { otherRevision: { table: other.id, falls: b < a } }
            : {};
        return [{ ...drop, ...spreads, ...twinFalls }];
      }),
    );
  });
};

/**
 * Of a profile's predicted cells that miss by more than 15 %, those the other revision's table
 * publishes more than 15 % away: no prediction could be within 15 % of both revisions' numbers.
 */
export const missesOnDisputedCells = (
  predicted: readonly WhatifTable[],
  revisions: readonly RevisionTable[],
  within = 0.15,
): { misses: number; disputed: string[] } => {
  const disputed = new Set(
    revisions.flatMap((r) =>
      r.cells
        .flat()
        .filter((c) => Math.abs(c.change) > within)
        .flatMap((c) => [`${r.v4}/${c.id}`, `${r.v3}/${c.id}`]),
    ),
  );
  const misses = predicted
    .flatMap((t) => t.cells.flat())
    .filter((c) => !c.fitted && Math.abs(c.error) > within);
  return {
    misses: misses.length,
    disputed: misses.filter((c) => disputed.has(c.id)).map((c) => c.id),
  };
};

/** A published neighbour of a missed cell that moves against the model's prediction. */
export interface AgainstNeighbour {
  /** The neighbour's cell id (`table/row/column`). */
  readonly id: string;
  /**
   * Along which axis it neighbours the miss: the next smaller or larger folio size of the row
   * (`"size"`), folio count of the row (`"count"`), or thread or channel count of the column
   * (`"lanes"`, rows of one copier).
   */
  readonly axis: "size" | "count" | "lanes";
  /** Published GB/s: the smaller of the two along the axis first. */
  readonly published: readonly [number, number];
  /** Predicted GB/s, in the same order. */
  readonly predicted: readonly [number, number];
  /**
   * The miss's prediction against the neighbour's published number, `(predicted − neighbour) /
   * neighbour`: its error had the published numbers not fallen between the two (the miss
   * published no higher than its larger neighbour, or no lower than its smaller one).
   */
  readonly error: number;
}

/** Why a cell not fitted on misses by more than 15 %, as far as the published numbers tell. */
export interface MissEvidence {
  /** The missed cell (`table/row/column`). */
  readonly id: string;
  /** `(predicted − published) / published`. */
  readonly error: number;
  /** Whether the prediction lies within the ± the seed prints beside it; absent where none. */
  readonly withinSpread?: boolean;
  /**
   * Its neighbours whose published numbers fall where the prediction does not: a larger folio
   * size, count or lane count published below a miss predicted low, or a smaller one published
   * above a miss predicted high. More of any of them only adds work that is shared out, or shares
   * costs per call, per batch and per folio over more bytes, so the model rises or stays there;
   * a published fall of the neighbour pulls the miss the way it errs.
   */
  readonly against: readonly AgainstNeighbour[];
}

/**
 * For every cell of `predicted` not fitted on that misses by more than `within`: whether the
 * prediction lies within the published ±, and which neighbouring published cells move against
 * the model (see {@link MissEvidence}). Neighbours are the previous and next column of the row
 * (a folio count in a count table, a folio size otherwise) and the previous and next row of the
 * same copier kind (threads or channels) in the column.
 */
export const missEvidence = (predicted: readonly WhatifTable[], within = 0.15): MissEvidence[] =>
  predicted.flatMap((t) =>
    t.cells.flatMap((row, r) =>
      row.flatMap((c, col): MissEvidence[] => {
        if (c.fitted || Math.abs(c.error) <= within) return [];
        const kind = t.table.rows[r]!.copier.kind;
        const lanes = (dr: number) => {
          const other = t.table.rows[r + dr];
          return kind !== "serial" && other?.copier.kind === kind
            ? t.cells[r + dr]?.[col]
            : undefined;
        };
        const axis: AgainstNeighbour["axis"] = byCount(t.table) ? "count" : "size";
        const pairs = [
          { axis, lo: row[col - 1], hi: c },
          { axis, lo: c, hi: row[col + 1] },
          { axis: "lanes" as const, lo: lanes(-1), hi: c },
          { axis: "lanes" as const, lo: c, hi: lanes(1) },
        ];
        const against = pairs.flatMap(({ axis, lo, hi }): AgainstNeighbour[] => {
          if (!lo || !hi) return [];
          // The published numbers fall where the prediction does not, on the side that pulls
          // the miss the way it errs: a cell above its larger neighbour is predicted low, a
          // cell below its smaller one high.
          const side = lo === c ? c.error < 0 : c.error > 0;
          if (!side || hi.published >= lo.published || hi.predicted < lo.predicted) return [];
          const other = lo === c ? hi : lo;
          return [
            {
              id: other.id,
              axis,
              published: [lo.published, hi.published],
              predicted: [lo.predicted, hi.predicted],
              error: (c.predicted - other.published) / other.published,
            },
          ];
        });
        const spread =
          c.spread === undefined
            ? {}
            : { withinSpread: Math.abs(c.predicted - c.published) <= c.spread };
        return [{ id: c.id, error: c.error, ...spread, against }];
      }),
    ),
  );

const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(0)} %`;
const gb = (p: Published) =>
  `${p.gbps.toFixed(2)}${p.spread === undefined ? "" : `±${p.spread.toFixed(2)}`}`;

/**
 * How many misses each kind of evidence covers: within the published ±, accounted for by a
 * published fall (some neighbour's {@link AgainstNeighbour} `error` within `within`), and the
 * ids of those that neither covers.
 */
export const missEvidenceSummary = (
  evidence: readonly MissEvidence[],
  within = 0.15,
): {
  misses: number;
  withinSpread: number;
  byFall: number;
  neither: string[];
} => {
  const byFall = (m: MissEvidence) => m.against.some((a) => Math.abs(a.error) <= within);
  return {
    misses: evidence.length,
    withinSpread: evidence.filter((m) => m.withinSpread).length,
    byFall: evidence.filter(byFall).length,
    neither: evidence.filter((m) => !m.withinSpread && !byFall(m)).map((m) => m.id),
  };
};

/**
 * Markdown: each miss with its error, whether it lies within the published ±, and the published
 * neighbours that fall where the model does not (with the miss's error against each); then the
 * summary of {@link missEvidenceSummary}.
 */
export const formatMissEvidence = (evidence: readonly MissEvidence[], within = 0.15): string => {
  if (evidence.length === 0) return "No cell not fitted on misses by more than 15 %.";
  const s = missEvidenceSummary(evidence, within);
  return [
    "**The misses against the published numbers** (a neighbour: the next smaller or larger folio size, count, or thread or channel count, published falling where the model does not; the miss's prediction against the neighbour's published number):",
    "",
    markdownTable(
      ["miss", "error", "within the ±", "published falls where the model does not"],
      evidence.map((m) => [
        m.id,
        pct(m.error),
        m.withinSpread === undefined ? "–" : m.withinSpread ? "yes" : "no",
        m.against.length === 0
          ? "–"
          : m.against
              .map(
                (a) =>
                  `${a.id}: ${a.published.map((x) => x.toFixed(2)).join(" → ")} (predicted ${a.predicted.map((x) => x.toFixed(2)).join(" → ")}; against it ${pct(a.error)})`,
              )
              .join("; "),
      ]),
    ),
    "",
    `Of ${s.misses} ${s.misses === 1 ? "miss" : "misses"}: ${s.withinSpread} within the published ±, ${s.byFall} within 15 % had the published numbers not fallen at a neighbour, ${s.neither.length} neither${s.neither.length > 0 ? ` (${s.neither.join(", ")})` : ""}.`,
  ].join("\n");
};

/**
 * Markdown: each pair of tables as `v4 / v3 (change)`, `†` where the published intervals do not
 * overlap; the summary; then the falls in the count rows.
 */
export const formatReproducibility = (
  tables: readonly RevisionTable[],
  drops: readonly CountDrop[],
  misses: readonly {
    readonly profile: string;
    readonly misses: number;
    readonly disputed: readonly string[];
  }[] = [],
): string => {
  const out: string[] = [
    "**The seeds' own reproducibility: v4 against v3, the same EPYC + PTDMA machine class**, GB/s v4 / v3 (v4 vs v3):",
    "",
  ];
  for (const t of tables) {
    out.push(`${seedTable(t.v4).title} against ${seedTable(t.v3).title}:`, "");
    out.push(
      markdownTable(
        [byCount(seedTable(t.v4)) ? "folios" : "copier", ...t.columns],
        t.rows.map((row, r) => [
          row,
          ...t.cells[r]!.map(
            (c) =>
              `${c.v4.gbps.toFixed(2)} / ${c.v3.gbps.toFixed(2)} (${pct(c.change)})${c.disjoint ? " †" : ""}`,
          ),
        ]),
      ),
      "",
    );
  }
  const s = revisionSummary(tables);
  out.push(
    `† the two published intervals (mean ± spread) do not overlap. Of ${s.cells} shared cells, ${s.over15} differ by more than 15 % between the series' own two runs (median |v4 vs v3| ${(s.medianAbs * 100).toFixed(1)} %, mean ${(s.meanAbs * 100).toFixed(1)} %; the largest ${s.largest.table}/${s.largest.id}, ${pct(s.largest.change)}); in ${s.disjoint} of the ${s.withSpread} cells where both print a ±, the intervals do not overlap.`,
    "",
  );
  for (const m of misses)
    out.push(
      `${m.profile}: the model misses ${m.misses} cells by more than 15 %; the other revision publishes ${m.disputed.length} of them more than 15 % away${m.disputed.length > 0 ? ` (${m.disputed.join(", ")})` : ""}.`,
      "",
    );
  out.push(
    "**Published count rows that fall with more folios** (one copier, one folio size; costs per call, per batch, per folio and per byte only make throughput rise with the count within one number of 1 GiB batches):",
    "",
    markdownTable(
      [
        "table",
        "copier",
        "folios",
        "GB/s",
        "change",
        "same batches",
        "within the ±",
        "other revision",
      ],
      drops.map((d) => [
        d.table,
        d.row,
        `${d.from} → ${d.to}`,
        `${gb(d.before)} → ${gb(d.after)}`,
        pct(d.change),
        d.sameBatches ? "yes" : "no",
        d.withinSpread === undefined ? "–" : d.withinSpread ? "yes" : "no",
        d.otherRevision === undefined
          ? "–"
          : `${d.otherRevision.table} ${d.otherRevision.falls ? "falls too" : "rises"}`,
      ]),
    ),
    "",
    `${drops.length} falls, ${drops.filter((d) => d.sameBatches).length} of them within one number of batches.`,
  );
  return out.join("\n");
};

/** The revision tables of {@link REVISION_PAIRS}. */
export const revisionTables = (): RevisionTable[] =>
  REVISION_PAIRS.map(([a, b]) => revisionTable(a, b));
