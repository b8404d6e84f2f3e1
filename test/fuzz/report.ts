/** Counts by category and outcome code, printed as a table. */
export class Tally {
  private readonly rows = new Map<string, Map<string, number>>();

  /** `categories`: the table's rows in this order (cases may be sent in another). */
  constructor(categories: Iterable<string> = []) {
    for (const c of categories) this.rows.set(c, new Map());
  }

  add(category: string, code: string): void {
    const row = this.rows.get(category) ?? new Map<string, number>();
    row.set(code, (row.get(code) ?? 0) + 1);
    this.rows.set(category, row);
  }

  total(): number {
    let n = 0;
    for (const row of this.rows.values()) for (const c of row.values()) n += c;
    return n;
  }

  table(): string {
    const codes = [...new Set([...this.rows.values()].flatMap((r) => [...r.keys()]))].sort();
    const width = Math.max(8, ...[...this.rows.keys()].map((k) => k.length));
    const head = ["category".padEnd(width), "total", ...codes].join(" | ");
    const lines = [head, head.replace(/[^|]/g, "-")];
    const sums = new Map<string, number>();
    for (const [category, row] of this.rows) {
      const total = [...row.values()].reduce((a, b) => a + b, 0);
      const cells = codes.map((code) => {
        const n = row.get(code) ?? 0;
        sums.set(code, (sums.get(code) ?? 0) + n);
        return String(n || "").padStart(code.length);
      });
      lines.push([category.padEnd(width), String(total).padStart(5), ...cells].join(" | "));
    }
    lines.push(["all".padEnd(width), String(this.total()).padStart(5), ...codes.map((c) => String(sums.get(c) ?? 0).padStart(c.length))].join(" | "));
    return lines.join("\n");
  }
}

/** Runs fn over items with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
