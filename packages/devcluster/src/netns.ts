import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { ClusterNetwork } from "./local-cluster.ts";

/**
 * Two sites and a witness as Linux network namespaces, each joined to a router namespace by a
 * veth pair, plus one veth from the router to the launcher's namespace (for load generators and
 * test clients). A cut is an nftables rule in the router dropping what flows between one site
 * and the rest, while the launcher still reaches every site: a real network cut, not a killed
 * process. Needs root, `ip` (iproute2) and `nft` (nftables).
 *
 *   site a  10.N.1.2 ─┐
 *   site b  10.N.2.2 ─┼─ router (10.N.<i>.1, ip_forward) ── 10.N.254.1 ═ 10.N.254.2 launcher
 *   witness 10.N.3.2 ─┘
 */
export interface SitesTopology extends ClusterNetwork {
  /** Unique per run; every namespace name starts with `taj-<tag>-`. */
  readonly tag: string;
  readonly members: string[];
  /** Namespace of each member and of the router. */
  readonly namespaces: Record<string, string>;
  readonly router: string;
  /** The /16 used, e.g. "10.213.0.0/16". */
  readonly subnet: string;
  /** Drops all traffic between `site` and every other member (the launcher still reaches all). */
  cut(site: string): void;
  /** Removes every cut. */
  restore(): void;
  readonly cutSites: ReadonlySet<string>;
  /** Deletes the namespaces, veths and route (processes in them must be stopped first). */
  teardown(): void;
}

const STATE_DIR = "/run/taj-netns";
const NFT_TABLE = "tajcut";

function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], ...(input === undefined ? {} : { input }) });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`, { cause: err });
  }
}

function tryRun(cmd: string, args: string[]): void {
  try {
    run(cmd, args);
  } catch {
    // teardown of something already gone
  }
}

/** Checks root and the tools, naming what to install when one is missing. */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: "network namespaces need root" };
  for (const tool of ["ip", "nft"]) {
    if (!["/usr/sbin", "/usr/bin", "/sbin", "/bin"].some((d) => existsSync(join(d, tool)))) {
      return { ok: false, reason: `${tool} is missing: run scripts/install-deps.sh --netns (apt-get install -y iproute2 nftables)` };
    }
  }
  return { ok: true };
}

/** A second octet whose 10.X.0.0/16 no route of this machine uses yet. */
function freeSecondOctet(): number {
  const routes = run("ip", ["-4", "route", "show", "table", "all"]);
  const addrs = run("ip", ["-4", "-o", "addr", "show"]);
  for (let attempt = 0; attempt < 200; attempt++) {
    const x = 200 + ((randomBytes(1)[0]! + attempt) % 50);
    if (!routes.includes(`10.${x}.`) && !addrs.includes(`10.${x}.`)) return x;
  }
  throw new Error("no free 10.200-249.0.0/16 for the drill topology");
}

interface State {
  tag: string;
  pid: number;
  namespaces: string[];
  hostLink: string;
  route: string;
}

/**
 * Removes topologies an earlier run left behind when its launcher died (only ours: recorded in
 * /run/taj-netns with a launcher pid that no longer runs). Returns their tags.
 */
export function reapStaleTopologies(): string[] {
  if (!existsSync(STATE_DIR)) return [];
  const reaped: string[] = [];
  for (const file of readdirSync(STATE_DIR)) {
    const path = join(STATE_DIR, file);
    let state: State;
    try {
      state = JSON.parse(readFileSync(path, "utf8")) as State;
    } catch {
      continue;
    }
    if (existsSync(`/proc/${state.pid}`)) continue;
    removeState(state);
    rmSync(path, { force: true });
    reaped.push(state.tag);
  }
  return reaped;
}

function removeState(state: State): void {
  tryRun("ip", ["route", "del", state.route]);
  tryRun("ip", ["link", "del", state.hostLink]);
  for (const ns of state.namespaces) {
    // Processes still inside keep a namespace alive after `ip netns del`; kill only those we can
    // attribute to it (ip netns pids lists exactly the processes in that namespace).
    for (const pid of safePids(ns)) tryRun("kill", ["-9", pid]);
    tryRun("ip", ["netns", "del", ns]);
  }
}

function safePids(ns: string): string[] {
  try {
    return run("ip", ["netns", "pids", ns]).split(/\s+/).filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
}

export function createSitesTopology(options: { sites?: string[]; witness?: string } = {}): SitesTopology {
  const support = netnsSupport();
  if (!support.ok) throw new Error(support.reason);
  const sites = options.sites ?? ["a", "b"];
  const members = [...sites, options.witness ?? "w"];
  const tag = randomBytes(3).toString("hex");
  const x = freeSecondOctet();
  const router = `taj-${tag}-r`;
  const namespaces: Record<string, string> = Object.fromEntries(members.map((m) => [m, `taj-${tag}-${m}`]));
  // Interface names are at most 15 characters; only the launcher-side one lives in a shared namespace.
  const hostLink = `taj${tag}`;
  const subnet = `10.${x}.0.0/16`;
  const hostOf = (member: string) => `10.${x}.${members.indexOf(member) + 1}.2`;
  const state: State = { tag, pid: process.pid, namespaces: [...Object.values(namespaces), router], hostLink, route: subnet };
  run("mkdir", ["-p", STATE_DIR]);
  const stateFile = join(STATE_DIR, `${tag}.json`);
  writeFileSync(stateFile, JSON.stringify(state));

  const ipn = (ns: string, ...args: string[]) => run("ip", ["-n", ns, ...args]);
  try {
    run("ip", ["netns", "add", router]);
    ipn(router, "link", "set", "lo", "up");
    run("ip", ["netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    members.forEach((m, i) => {
      const ns = namespaces[m]!;
      const n = i + 1;
      run("ip", ["netns", "add", ns]);
      ipn(ns, "link", "set", "lo", "up");
      // Created inside the router, so the names never meet those of another run.
      ipn(router, "link", "add", `v${m}`, "type", "veth", "peer", "name", "eth0", "netns", ns);
      ipn(router, "addr", "add", `10.${x}.${n}.1/24`, "dev", `v${m}`);
      ipn(router, "link", "set", `v${m}`, "up");
      ipn(ns, "addr", "add", `${hostOf(m)}/24`, "dev", "eth0");
      ipn(ns, "link", "set", "eth0", "up");
      ipn(ns, "route", "add", "default", "via", `10.${x}.${n}.1`);
    });
    run("ip", ["link", "add", hostLink, "type", "veth", "peer", "name", "vhost", "netns", router]);
    run("ip", ["addr", "add", `10.${x}.254.2/30`, "dev", hostLink]);
    run("ip", ["link", "set", hostLink, "up"]);
    ipn(router, "addr", "add", `10.${x}.254.1/30`, "dev", "vhost");
    ipn(router, "link", "set", "vhost", "up");
    run("ip", ["route", "add", subnet, "via", `10.${x}.254.1`]);
  } catch (err) {
    removeState(state);
    rmSync(stateFile, { force: true });
    throw err;
  }

  const cutSites = new Set<string>();
  const applyCuts = () => {
    tryRun("ip", ["netns", "exec", router, "nft", "delete", "table", "inet", NFT_TABLE]);
    if (cutSites.size === 0) return;
    const rules = [...cutSites].flatMap((site) => {
      const others = members.filter((m) => m !== site).map((m) => `"v${m}"`).join(", ");
      return [`    iifname "v${site}" oifname { ${others} } drop`, `    iifname { ${others} } oifname "v${site}" drop`];
    });
    const script = `table inet ${NFT_TABLE} {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n${rules.join("\n")}\n  }\n}\n`;
    run("ip", ["netns", "exec", router, "nft", "-f", "-"], script);
  };
  let tornDown = false;
  return {
    tag,
    members,
    namespaces,
    router,
    subnet,
    hostOf,
    netnsOf: (member) => namespaces[member],
    cutSites,
    cut(site) {
      if (!members.includes(site)) throw new Error(`no member ${site}`);
      cutSites.add(site);
      applyCuts();
    },
    restore() {
      cutSites.clear();
      applyCuts();
    },
    teardown() {
      if (tornDown) return;
      tornDown = true;
      removeState(state);
      rmSync(stateFile, { force: true });
    },
  };
}
