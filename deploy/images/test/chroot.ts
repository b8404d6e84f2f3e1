// Runs an image's entry point the way a container runtime would, without one (podman run cannot
// run on these machines): in new mount and PID namespaces, chrooted into the unpacked image,
// as the image's non-root user, with the root filesystem read-only, a tmpfs on /tmp, the
// volumes and secrets bind-mounted, and every shell of the image made unusable, so an entry
// point that needed a shell would fail. The network is the host's (loopback only in the tests).
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ManagedProcess } from "@taj/devcluster";

export interface Bind {
  /** A host directory. */
  readonly source: string;
  /** Absolute path inside the image. */
  readonly target: string;
  readonly readOnly: boolean;
}

export interface ChrootSpec {
  readonly name: string;
  readonly rootfs: string;
  /** "uid:gid" as in the image config. */
  readonly user: string;
  readonly workingDir: string;
  /** The image's entry point plus arguments. */
  readonly argv: readonly string[];
  /** The image's Env plus the service's config. */
  readonly env: Readonly<Record<string, string>>;
  readonly binds: readonly Bind[];
  readonly logFile: string;
}

/** Shells a Debian minbase has: bound over with /dev/null (not executable) for the run. */
const SHELLS = ["usr/bin/sh", "usr/bin/bash", "usr/bin/dash", "usr/bin/rbash"];

// Runs as root in the new namespaces (mount propagation private: nothing leaks to the host),
// then execs unshare --root (a chroot that also enters the image's WORKDIR), which drops to the
// image's user and clears the supplementary groups before it execs the entry point.
const SETUP = `set -eu
root="$1"; user="$2"; workdir="$3"; shift 3
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777,size=512m tmpfs "$root/tmp"
while [ "$1" != "--" ]; do
  mount --bind "$2" "$root$3"
  if [ "$1" = ro ]; then mount -o remount,bind,ro "$root$3"; fi
  shift 3
done
shift
for sh in ${SHELLS.join(" ")}; do if [ -e "$root/$sh" ]; then mount --bind /dev/null "$root/$sh"; fi; done
mount -o remount,bind,ro "$root"
exec unshare --root="$root" --wd="$workdir" --setgid "\${user#*:}" --setuid "\${user%%:*}" -- "$@"
`;

/** A process started by startInChroot: the unshare wrapper, and the entry point's pid seen from here. */
export interface ChrootProcess {
  readonly process: ManagedProcess;
  /** Host pid of the entry point (PID 1 of its namespace), once it runs. */
  entryPid(): number | undefined;
  /** SIGTERM to the entry point (it drains), then waits for the wrapper; kills it after the grace. */
  stop(graceMs?: number): Promise<void>;
}

export function startInChroot(spec: ChrootSpec): ChrootProcess {
  for (const bind of spec.binds) mkdirSync(join(spec.rootfs, bind.target), { recursive: true });
  const script = join(spec.rootfs, "..", "run-in-chroot.sh");
  if (!existsSync(script)) writeFileSync(script, SETUP, { mode: 0o755 });
  const bindArgs = spec.binds.flatMap((b) => [b.readOnly ? "ro" : "rw", b.source, b.target]);
  const proc = new ManagedProcess({
    name: spec.name,
    command: "unshare",
    // --kill-child: if the wrapper is killed, so is the entry point (no orphan keeps a port).
    args: ["--mount", "--pid", "--fork", "--kill-child", "/bin/sh", script, spec.rootfs, spec.user, spec.workingDir, ...bindArgs, "--", ...spec.argv],
    cwd: "/",
    env: { ...spec.env },
    logFile: spec.logFile,
  });
  proc.start();
  const entryPid = () => {
    const wrapper = proc.pid;
    return wrapper === undefined ? undefined : childOf(wrapper);
  };
  return {
    process: proc,
    entryPid,
    stop: async (graceMs = 10_000) => {
      const pid = entryPid();
      if (pid !== undefined) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // Already gone.
        }
      }
      await proc.stop(graceMs);
    },
  };
}

/** The one child of `pid` (unshare --fork has exactly one), from /proc. */
export function childOf(pid: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = procStatus(Number(entry));
    if (status?.PPid === String(pid)) return Number(entry);
  }
  return undefined;
}

/** Fields of /proc/<pid>/status (Uid, Gid, CapEff, PPid, ...), or undefined once it is gone. */
export function procStatus(pid: number): Record<string, string> | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    return Object.fromEntries(text.split("\n").filter(Boolean).map((line) => {
      const at = line.indexOf(":");
      return [line.slice(0, at), line.slice(at + 1).trim()];
    }));
  } catch {
    return undefined;
  }
}
