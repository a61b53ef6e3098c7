/**
 * Progress on stderr. A long grid of cells (sizes, count, base64k) shows a bar with the cell in
 * progress and the time left when stderr is a terminal, drawn by cli-progress (see
 * `docs/dependencies.md`); elsewhere, and for every other step, one line per step, so that a CI
 * log or a redirected file reads in order.
 */
import { SingleBar } from "cli-progress";

/** Where a step stands in a grid: `index` cells of `of` done before this one. */
export interface GridStep {
  readonly index: number;
  readonly of: number;
}

/**
 * What an experiment says as it goes: a step's label, and for a cell of a grid where it stands.
 * A grid's last call has `index === of`: every cell is measured.
 */
export type OnProgress = (label: string, step?: GridStep) => void;

/** Progress on stderr: a bar on a terminal, lines elsewhere. */
export class StderrProgress {
  private bar: SingleBar | null = null;

  constructor(private readonly tty: boolean = process.stderr.isTTY === true) {}

  /** Reports one step; pass it to an experiment as its {@link OnProgress}. */
  readonly report: OnProgress = (label, step) => {
    if (!step) {
      this.stop();
      process.stderr.write(`… ${label}\n`);
      return;
    }
    if (!this.tty) {
      if (step.index < step.of) process.stderr.write(`… [${step.index + 1}/${step.of}] ${label}\n`);
      return;
    }
    if (!this.bar) {
      this.bar = new SingleBar({
        format:
          "{bar} {value}/{total} cells | {duration_formatted} gone, ~{eta_formatted} left | {label}",
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 4,
        noTTYOutput: true,
      });
      this.bar.start(step.of, step.index, { label });
    }
    this.bar.update(step.index, { label });
    if (step.index >= step.of) this.stop();
  };

  /** Ends the bar, if one is drawn, leaving it on its own line. */
  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
