const EMPTY = 0;
const MIN_CAPACITY = 1_024;

/**
 * Record ids of a partition's rows, both ways: row -> id in a plain array, id -> row in an
 * open-addressing table of row numbers (linear probing, at most half full). A Map<string, number>
 * costs ~50 bytes per entry more than this 8-byte table, which at TAJ's size is the difference
 * between fitting a site in memory or not (bench/results/index-memory). Deletion shifts later
 * entries of the probe run back, so lookups never meet tombstones.
 */
export class IdTable {
  private readonly rowIds: string[] = [];
  /** row + 1 per slot; EMPTY = free. */
  private slots = new Int32Array(MIN_CAPACITY);
  private mask = MIN_CAPACITY - 1;

  get size(): number {
    return this.rowIds.length;
  }

  idAt(row: number): string {
    const id = this.rowIds[row];
    if (id === undefined) throw new Error(`no row ${row}`);
    return id;
  }

  rowOf(id: string): number | undefined {
    for (let s = hash(id) & this.mask; ; s = (s + 1) & this.mask) {
      const v = this.slots[s]!;
      if (v === EMPTY) return undefined;
      if (this.rowIds[v - 1] === id) return v - 1;
    }
  }

  /** Adds `id` as the next row (the caller ensures it is absent); returns its row. */
  push(id: string): number {
    if ((this.rowIds.length + 1) * 2 > this.slots.length) this.resize(this.slots.length * 2);
    const row = this.rowIds.length;
    this.rowIds.push(id);
    this.place(id, row);
    return row;
  }

  /**
   * Removes the id at `row`; the last row's id takes its place (rows stay dense, as the int8 rows
   * do: Int8Rows.moveLastInto). Returns the id removed.
   */
  removeRow(row: number): string {
    const id = this.idAt(row);
    this.unplace(id);
    const last = this.rowIds.length - 1;
    if (row !== last) {
      const moved = this.rowIds[last]!;
      this.rowIds[row] = moved;
      this.slots[this.slotOf(moved)] = row + 1;
    }
    this.rowIds.pop();
    if (this.slots.length > MIN_CAPACITY && this.rowIds.length * 8 < this.slots.length) this.resize(this.slots.length / 2);
    return id;
  }

  ids(): string[] {
    return [...this.rowIds];
  }

  /** The ids in row order, as a snapshot stores them. */
  rows(): readonly string[] {
    return this.rowIds;
  }

  static of(ids: readonly string[]): IdTable {
    const t = new IdTable();
    let capacity = MIN_CAPACITY;
    while (ids.length * 2 > capacity) capacity *= 2;
    t.slots = new Int32Array(capacity);
    t.mask = capacity - 1;
    for (const id of ids) {
      if (t.rowOf(id) !== undefined) throw new Error("duplicate id in a partition's rows");
      t.push(id);
    }
    return t;
  }

  private place(id: string, row: number): void {
    let s = hash(id) & this.mask;
    while (this.slots[s] !== EMPTY) s = (s + 1) & this.mask;
    this.slots[s] = row + 1;
  }

  private slotOf(id: string): number {
    for (let s = hash(id) & this.mask; ; s = (s + 1) & this.mask) {
      const v = this.slots[s]!;
      if (v === EMPTY) throw new Error("id table lost an id");
      if (this.rowIds[v - 1] === id) return s;
    }
  }

  /** Frees the id's slot and moves later entries of its probe run back where they belong. */
  private unplace(id: string): void {
    let hole = this.slotOf(id);
    this.slots[hole] = EMPTY;
    for (let s = (hole + 1) & this.mask; this.slots[s] !== EMPTY; s = (s + 1) & this.mask) {
      const v = this.slots[s]!;
      const home = hash(this.rowIds[v - 1]!) & this.mask;
      // The entry may fill the hole unless its home lies cyclically in (hole, s].
      const stays = hole <= s ? home > hole && home <= s : home > hole || home <= s;
      if (stays) continue;
      this.slots[hole] = v;
      this.slots[s] = EMPTY;
      hole = s;
    }
  }

  private resize(capacity: number): void {
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.rowIds.forEach((id, row) => this.place(id, row));
  }
}

/** FNV-1a over the id's UTF-16 code units, finished with a murmur-style mix for the low bits. */
function hash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
