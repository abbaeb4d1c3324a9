// One warning per interval for problems that may come in floods (failed sends, dropped
// entries): the first problem after a quiet interval is said at once, the ones after it
// are summed by their owner and said in the next line, which a timer makes sure comes
// (the last ones are never kept back for ever). The owner keeps its own counts; `say`
// turns what was counted since the last line into a line (and resets it).

export class WarnThrottle {
  private lastWarnAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  /**
   * `say` logs what was counted and returns true, or returns false when there is nothing
   * to say (then the interval does not start again).
   */
  constructor(private readonly intervalMs: number, private readonly say: () => boolean,
    private readonly now: () => number = Date.now) {}

  /** Something to warn about was counted: said now, or at the end of the current interval. */
  due(): void {
    const wait = this.lastWarnAt + this.intervalMs - this.now();
    if (wait <= 0) {
      this.emit();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => { this.timer = undefined; this.emit(); }, wait);
      this.timer.unref();
    }
  }

  private emit(): void {
    if (this.say()) this.lastWarnAt = this.now();
  }
}
