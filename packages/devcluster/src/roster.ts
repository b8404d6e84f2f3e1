import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ManagedProcess } from "./process.ts";

/** Marks services started for a cluster dir, so a later run can recognise its own leftovers. */
export const DIR_ENV = "TAJ_DEVCLUSTER_DIR";
const FILE = "pids.json";

interface Entry {
  name: string;
  pid: number;
}

/**
 * Keeps <dir>/pids.json current with the pids a cluster started. If the launcher is killed with
 * SIGKILL its children survive it; the next start in the same dir reaps exactly those.
 */
export class Roster {
  private readonly processes: ManagedProcess[] = [];
  constructor(private readonly dir: string) {}

  track(proc: ManagedProcess): void {
    this.processes.push(proc);
    proc.onStart(() => this.write());
    if (proc.running) this.write();
  }

  private write(): void {
    const entries: Entry[] = this.processes.flatMap((p) => (p.pid === undefined ? [] : [{ name: p.name, pid: p.pid }]));
    writeFileSync(join(this.dir, FILE), `${JSON.stringify(entries, null, 2)}\n`);
  }
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "latin1");
  } catch {
    return "";
  }
}

/** A pid counts as ours only if it still runs with this dir in its command line or environment. */
function belongsTo(pid: number, dir: string): boolean {
  const cmdline = readProc(pid, "cmdline").split("\0");
  if (cmdline.some((arg) => arg.startsWith(dir))) return true;
  return readProc(pid, "environ").split("\0").includes(`${DIR_ENV}=${dir}`);
}

/** Kills processes an earlier, abruptly ended run left in this dir; returns their names. */
export async function reapStale(dir: string): Promise<string[]> {
  let entries: Entry[];
  try {
    entries = JSON.parse(readFileSync(join(dir, FILE), "utf8")) as Entry[];
  } catch {
    return [];
  }
  const stale = entries.filter((e) => Number.isInteger(e.pid) && e.pid > 1 && belongsTo(e.pid, dir));
  for (const e of stale) {
    try {
      process.kill(e.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 50 && stale.some((e) => readProc(e.pid, "cmdline") !== ""); i++) await sleep(100);
  return stale.map((e) => `${e.name} (pid ${e.pid})`);
}
