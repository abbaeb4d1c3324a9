// Aho-Corasick automaton for @pm / @pmFromFile: one pass over the input whatever the
// number of phrases, case-insensitive (ASCII), as ModSecurity's @pm is.

interface Node {
  next: Map<number, number>;
  fail: number;
  /** Index of a phrase ending here (or at a node reached through fail links), -1 if none. */
  output: number;
}

const lowerCode = (c: number): number => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

export class PhraseMatcher {
  private readonly nodes: Node[] = [{ next: new Map(), fail: 0, output: -1 }];
  readonly phrases: readonly string[];

  constructor(phrases: readonly string[]) {
    this.phrases = phrases.filter((p) => p.length > 0);
    this.phrases.forEach((phrase, index) => {
      let state = 0;
      for (let i = 0; i < phrase.length; i++) {
        const c = lowerCode(phrase.charCodeAt(i));
        let target = this.nodes[state]!.next.get(c);
        if (target === undefined) {
          target = this.nodes.length;
          this.nodes.push({ next: new Map(), fail: 0, output: -1 });
          this.nodes[state]!.next.set(c, target);
        }
        state = target;
      }
      if (this.nodes[state]!.output < 0) this.nodes[state]!.output = index;
    });
    this.link();
  }

  private link(): void {
    const queue: number[] = [];
    for (const child of this.nodes[0]!.next.values()) queue.push(child);
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      for (const [c, child] of this.nodes[state]!.next) {
        queue.push(child);
        let f = this.nodes[state]!.fail;
        while (f !== 0 && !this.nodes[f]!.next.has(c)) f = this.nodes[f]!.fail;
        const candidate = this.nodes[f]!.next.get(c);
        const fail = candidate !== undefined && candidate !== child ? candidate : 0;
        this.nodes[child]!.fail = fail;
        if (this.nodes[child]!.output < 0) this.nodes[child]!.output = this.nodes[fail]!.output;
      }
    }
  }

  /** The first phrase found in `input`, or undefined. */
  find(input: string): string | undefined {
    let state = 0;
    for (let i = 0; i < input.length; i++) {
      const c = lowerCode(input.charCodeAt(i));
      while (state !== 0 && !this.nodes[state]!.next.has(c)) state = this.nodes[state]!.fail;
      state = this.nodes[state]!.next.get(c) ?? 0;
      const out = this.nodes[state]!.output;
      if (out >= 0) return this.phrases[out];
    }
    return undefined;
  }
}
