/**
 * Streams text while holding back anything that could be the start of a stop string, so a
 * stop string split across tokens is caught and never emitted.
 */
export class StopMatcher {
  #pending = '';
  /** The stop string that ended the text, once one has. */
  matched: string | null = null;
  readonly #stops: string[];
  readonly #longest: number;

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((s) => s.length > 0);
    this.#longest = Math.max(0, ...this.#stops.map((s) => s.length));
  }

  /** Adds text; returns what is safe to emit and whether a stop string was reached. */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.#stops.length === 0) return { emit: text, stopped: false };
    this.#pending += text;
    let cut = -1;
    for (const s of this.#stops) {
      const i = this.#pending.indexOf(s);
      if (i !== -1 && (cut === -1 || i < cut)) {
        cut = i;
        this.matched = s;
      }
    }
    if (cut !== -1) {
      const emit = this.#pending.slice(0, cut);
      this.#pending = '';
      return { emit, stopped: true };
    }
    // Keep the longest tail that is a prefix of some stop string.
    let keep = 0;
    const maxKeep = Math.min(this.#longest - 1, this.#pending.length);
    for (let k = maxKeep; k > 0; k--) {
      const tail = this.#pending.slice(this.#pending.length - k);
      if (this.#stops.some((s) => s.startsWith(tail))) {
        keep = k;
        break;
      }
    }
    const emit = this.#pending.slice(0, this.#pending.length - keep);
    this.#pending = this.#pending.slice(this.#pending.length - keep);
    return { emit, stopped: false };
  }

  /** The held-back text once generation ends without a stop string. */
  flush(): string {
    const rest = this.#pending;
    this.#pending = '';
    return rest;
  }
}
