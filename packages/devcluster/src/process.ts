import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export interface ProcessSpec {
  /** Unique within a cluster, e.g. "etcd-a", "nats-w", "shard-a1". */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here, so a restart keeps the earlier output. */
  logFile: string;
  /**
   * Network namespace to run in (`ip netns exec <netns> command ...`). `ip netns exec` execs the
   * command in place, so the pid we hold is the real process's: kill -9 reaches it.
   */
  netns?: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What the launcher hands out for every process it started: etcd members, NATS nodes, services. */
export interface ProcessHandle {
  readonly name: string;
  readonly pid: number | undefined;
  readonly process: ManagedProcess;
  /** Signals this process only; false if it is not running. */
  kill(signal?: NodeJS.Signals): boolean;
  /** Starts it again with the same config and data (stopping it first if it runs) and waits until ready. */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after the grace. */
  stop(graceMs?: number): Promise<void>;
}

/** Every child still running, so an abrupt exit of the launcher does not leave orphans behind. */
const live = new Set<ManagedProcess>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAllSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      // Someone else (e.g. scripts/cluster.ts) handles this signal and stops the cluster in order.
      if (process.listenerCount(signal) > 1) return;
      killAllSync();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

/** SIGKILLs every child this process started and that still runs. Synchronous: usable in an exit hook. */
export function killAllSync(): void {
  for (const p of live) p.kill("SIGKILL");
}

/**
 * One child process we started and may restart. Children get their own process group, so a
 * Ctrl-C in the terminal reaches only the launcher, which then stops them in order; the exit
 * hooks above make sure they never outlive it.
 */
export class ManagedProcess {
  readonly spec: ProcessSpec;
  private child: ChildProcess | undefined;
  private exit: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null });
  private lastStatus: ExitStatus | undefined;
  private readonly exitListeners = new Set<(status: ExitStatus) => void>();
  private readonly startListeners = new Set<(pid: number) => void>();

  constructor(spec: ProcessSpec) {
    this.spec = spec;
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.lastStatus === undefined;
  }

  /** Exit status of the last run, once it ended. */
  get exitStatus(): ExitStatus | undefined {
    return this.lastStatus;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    installExitHooks();
    const fd = openSync(this.spec.logFile, "a");
    try {
      const [command, args] = this.spec.netns
        ? ["ip", ["netns", "exec", this.spec.netns, this.spec.command, ...this.spec.args]]
        : [this.spec.command, this.spec.args];
      const child = spawn(command, args, {
        cwd: this.spec.cwd,
        env: this.spec.env,
        stdio: ["ignore", fd, fd],
        detached: true,
      });
      this.child = child;
      this.lastStatus = undefined;
      live.add(this);
      if (child.pid !== undefined) for (const listener of this.startListeners) listener(child.pid);
      this.exit = new Promise<ExitStatus>((resolve) => {
        const done = (status: ExitStatus) => {
          if (this.child !== child || this.lastStatus !== undefined) return;
          this.lastStatus = status;
          live.delete(this);
          for (const listener of this.exitListeners) listener(status);
          resolve(status);
        };
        child.once("exit", (code, signal) => done({ code, signal }));
        child.once("error", (err) => {
          process.stderr.write(`[devcluster] ${this.name}: spawn failed: ${err.message}\n`);
          done({ code: 127, signal: null });
        });
      });
    } finally {
      closeSync(fd);
    }
  }

  /** Sends a signal to this process only (never to a group or by name). False if it is not running. */
  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    const pid = this.pid;
    if (pid === undefined) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves when the current run ends (at once if not running). */
  waitExit(): Promise<ExitStatus> {
    return this.exit;
  }

  onStart(listener: (pid: number) => void): () => void {
    this.startListeners.add(listener);
    return () => this.startListeners.delete(listener);
  }

  onExit(listener: (status: ExitStatus) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** SIGTERM, then SIGKILL if still running after graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exit, killed]);
    clearTimeout(timer);
    await this.exit;
  }

  /** Last lines of the log file, for error messages. */
  logTail(lines = 30): string {
    try {
      const text = readFileSync(this.spec.logFile, "utf8");
      return text.split("\n").slice(-lines - 1).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Describes why the process is not running, or undefined while it runs. */
  deathNote(): string | undefined {
    const status = this.lastStatus;
    if (status === undefined) return undefined;
    return `process exited (code ${status.code}, signal ${status.signal}); log ${this.spec.logFile}:\n${this.logTail()}`;
  }
}

/**
 * The handle of a managed process: its pid read live (it changes on restart), signals, stop, and
 * a restart that waits until the process is ready again. Callers add their own fields with
 * Object.assign, which keeps the pid getter.
 */
export function processHandle(
  proc: ManagedProcess,
  waitReady: () => Promise<void>,
  defaults: { killSignal: NodeJS.Signals; graceMs: number },
): ProcessHandle {
  return {
    name: proc.name,
    get pid() {
      return proc.pid;
    },
    process: proc,
    kill: (signal: NodeJS.Signals = defaults.killSignal) => proc.kill(signal),
    stop: (graceMs = defaults.graceMs) => proc.stop(graceMs),
    restart: async () => {
      await proc.stop(defaults.graceMs);
      proc.start();
      await waitReady();
    },
  };
}
