import { Command, Option } from "commander";
import { etcdClient, readLayout } from "./layout.ts";
import { runChange, type Change } from "./operations.ts";
import { moveProgress } from "./progress.ts";
import { renderMoves, renderPlan, renderStatus } from "./render.ts";
import { gatherStatus } from "./status.ts";
import { PlanError } from "./plan.ts";
import { AUDIT_MAX_AGE_DAYS_DEFAULT, readTajctlConfig, type TajctlConfig, type TlsFiles } from "@taj/common";
import { addAuditCommands } from "./audit-cli.ts";
import { initStreams, renderInit } from "./init.ts";
import { addProjectionCommands } from "./projection-cli.ts";
import { addImportCommand } from "./import-cli.ts";
import { addSettingsCommands } from "./settings-cli.ts";
import { addModelCommands } from "./models-cli.ts";
import { listArg, positiveIntArg } from "./arg-parsers.ts";

const list = listArg;
const positiveInt = positiveIntArg;

interface Globals {
  config?: string;
  etcd?: string[];
  tlsCa: string;
  tlsCert: string;
  tlsKey: string;
  nats?: string[];
  coordinator?: string[];
}

interface MoveFlags {
  dryRun?: boolean;
  lockWait: number;
  stepTimeout: number;
  json?: boolean;
}

const SCALE_HELP = `
Partitions move with no window where one is unsearchable at the site: for each partition the new
shard is given it, the command waits until that shard has replayed the log for it and lists it as
live, and only then takes it from the old shard. Searches meanwhile ask one replica per partition
and merge by id, so nothing is counted twice. One move runs at a time cluster-wide (etcd lock).

New shards must be running and registered before they can receive partitions. In Kubernetes:
  kubectl -n taj-site-a scale statefulset taj-shard --replicas=4   # new pods start with no partitions
  tajctl status                                                     # they show as alive, nothing assigned
  tajctl scale --site a --shards 4
To shrink, move partitions away first, then scale the StatefulSet down (it removes the highest
ordinals, which is what --shards N keeps):
  tajctl scale --site a --shards 2 && kubectl -n taj-site-a scale statefulset taj-shard --replicas=2

An interrupted run leaves every partition searchable (at worst held twice); run the same command
again to finish.`;

export interface ProgramOptions {
  /** Where the default endpoints file (.run/cluster/tajctl.json) is looked for; the working directory unless given. */
  cwd?: string;
}

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), options: ProgramOptions = {}): Command {
  const program = new Command("tajctl")
    .description("Operate a TAJ image-matching cluster: status, scale, drain, rebalance, audit, projections, bulk import, search defaults")
    // Not mandatory for every command: the audit commands need NATS or the gateway, not etcd.
    .addOption(new Option("--etcd <endpoints>", "etcd endpoints, csv of https://host:port (status, scale, drain, rebalance)").env("ETCD_ENDPOINTS").argParser(list))
    .addOption(new Option("--nats <urls>", "NATS urls (the log's last sequence, i.e. replication lag; the audit stream)").env("NATS_URLS").argParser(list))
    .addOption(new Option("--coordinator <addresses>", "coordinator host:port list to health-check").env("COORDINATOR_ADDRESSES").argParser(list))
    // Every port is mutual TLS: tajctl presents an operator (admin) certificate of the cluster's CA.
    .addOption(new Option("--tls-ca <file>", "CA certificate of the cluster").env("TLS_CA_FILE").makeOptionMandatory())
    .addOption(new Option("--tls-cert <file>", "operator (OU=admin) certificate").env("TLS_CERT_FILE").makeOptionMandatory())
    .addOption(new Option("--tls-key <file>", "its private key").env("TLS_KEY_FILE").makeOptionMandatory())
    .addOption(new Option("--config <file>", "endpoints and admin certificate of a cluster (default .run/cluster/tajctl.json, written by the local cluster)").env("TAJCTL_CONFIG"))
    .showHelpAfterError();

  // Options not given as a flag or env come from the endpoints file, before the subcommand checks
  // its mandatory options (commander's "config" source: cli and env win over it).
  program.hook("preSubcommand", (_program, sub) => {
    const found = readTajctlConfig(program.opts<Globals>().config, options.cwd);
    if (!found) return;
    const fill = (cmd: Command) => {
      for (const [key, value] of Object.entries(fromConfig(found.config))) {
        if (value !== undefined && cmd.options.some((o) => o.attributeName() === key) && cmd.getOptionValue(key) === undefined) {
          cmd.setOptionValueWithSource(key, value, "config");
        }
      }
    };
    fill(program);
    fill(sub);
    sub.hook("preSubcommand", (_parent, leaf) => fill(leaf));
  });

  const globals = () => program.opts<Globals>();
  const tls = (): TlsFiles => {
    const g = globals();
    return { caFile: g.tlsCa, certFile: g.tlsCert, keyFile: g.tlsKey };
  };
  const etcdEndpoints = (): string[] => {
    const etcd = globals().etcd;
    if (!etcd?.length) throw new PlanError("give --etcd (or ETCD_ENDPOINTS)");
    return etcd;
  };

  program
    .command("status")
    .description("sites, shards (alive, assigned vs loaded partitions), template counts, replication lag, uncovered partitions, health")
    .option("--json", "print the report as JSON")
    .action(async (flags: { json?: boolean }) => {
      const g = globals();
      const etcd = etcdClient(etcdEndpoints(), tls());
      try {
        const report = await gatherStatus(etcd, { tls: tls(), ...(g.nats ? { natsUrls: g.nats } : {}), ...(g.coordinator ? { coordinators: g.coordinator } : {}) });
        out(flags.json ? JSON.stringify(report, null, 2) : renderStatus(report));
        if (!report.healthy) process.exitCode = 3;
      } finally {
        etcd.close();
      }
    });

  program
    .command("init")
    .description("cluster bootstrap: create the template and audit streams (or move them to the required settings); idempotent")
    .addOption(new Option("--replicas <n>", "copies of each stream (3: site A, site B, witness); the services' LOG_REPLICAS").argParser(positiveInt).default(3))
    .addOption(new Option("--audit-max-age-days <days>", "retention of the audit trail when created").argParser(positiveInt).default(AUDIT_MAX_AGE_DAYS_DEFAULT))
    .addOption(new Option("--audit-max-bytes <bytes>", "size cap of the audit trail when created, oldest dropped first (0: none)").argParser(Number).default(0))
    .option("--json", "print what was done as JSON")
    .action(async (flags: { replicas: number; auditMaxAgeDays: number; auditMaxBytes: number; json?: boolean }) => {
      const nats = globals().nats;
      if (!nats?.length) throw new PlanError("give --nats (or NATS_URLS)");
      const results = await initStreams(nats, tls(), {
        replicas: flags.replicas,
        auditRetention: { maxAgeDays: flags.auditMaxAgeDays, maxBytes: flags.auditMaxBytes },
      });
      out(flags.json ? JSON.stringify(results, null, 2) : renderInit(results));
    });

  const moveOptions = (cmd: Command) =>
    cmd
      .option("--dry-run", "print the plan, change nothing")
      .option("--json", "print the plan and the moves as JSON")
      .addOption(new Option("--lock-wait <seconds>", "wait this long for another move to finish").argParser(Number).default(0))
      .addOption(new Option("--step-timeout <seconds>", "give up when a shard takes longer to load or let go").argParser(Number).default(600));

  const run = async (site: string, change: Change, flags: MoveFlags) => {
    const etcd = etcdClient(etcdEndpoints(), tls());
    let progress: ReturnType<typeof moveProgress> | undefined;
    try {
      const result = await runChange(etcd, site, change, {
        ...(flags.dryRun ? { dryRun: true } : {}),
        lockWaitMs: flags.lockWait * 1000,
        stepTimeoutMs: flags.stepTimeout * 1000,
        onPlan: (plan) => {
          if (!flags.json) out(renderPlan(plan, [...plan.target.values()].reduce((n, ps) => n + ps.length, 0)));
          if (!flags.dryRun && !flags.json && plan.moves.length > 0) progress = moveProgress(plan);
        },
        onProgress: (p) => progress?.onProgress(p),
      });
      progress?.stop();
      if (flags.json) {
        out(JSON.stringify({ site, target: Object.fromEntries(result.plan.target), moves: result.plan.moves, retired: result.plan.retired, done: result.reports }, null, 2));
      } else if (!flags.dryRun) {
        out(renderMoves(result.reports));
      }
    } finally {
      progress?.stop();
      etcd.close();
    }
  };

  moveOptions(
    program
      .command("scale")
      .description("add or remove shards at a site and move partitions accordingly")
      .requiredOption("--site <site>", "site name, e.g. a")
      .addOption(new Option("--shards <n>", "target number of shards at the site").argParser(positiveInt).conflicts(["add", "remove"]))
      .addOption(new Option("--add <ids>", "shards (running, registered) to give partitions to").argParser(list).conflicts("remove"))
      .addOption(new Option("--remove <ids>", "shards to take every partition from").argParser(list))
      .addHelpText("after", SCALE_HELP),
  ).action(async (flags: MoveFlags & { site: string; shards?: number; add?: string[]; remove?: string[] }) => {
    const change: Change | undefined = flags.shards !== undefined
      ? { kind: "scale", shards: flags.shards }
      : flags.add ? { kind: "add", shards: flags.add } : flags.remove ? { kind: "remove", shards: flags.remove } : undefined;
    if (!change) throw new PlanError("give --shards N, --add ids or --remove ids");
    await run(flags.site, change, flags);
  });

  moveOptions(
    program
      .command("drain")
      .description("move every partition of a shard to the other shards of its site (then it can be stopped)")
      .argument("<shardId>")
      .option("--site <site>", "site of the shard (found in etcd when omitted)")
      .addHelpText("after", SCALE_HELP),
  ).action(async (shard: string, flags: MoveFlags & { site?: string }) => {
    const site = flags.site ?? (await siteOf(shard));
    await run(site, { kind: "drain", shard }, flags);
  });

  moveOptions(
    program
      .command("rebalance")
      .description("even out partitions over the shards already assigned at a site; also repairs unassigned or doubly assigned partitions")
      .requiredOption("--site <site>", "site name"),
  ).action(async (flags: MoveFlags & { site: string }) => {
    await run(flags.site, { kind: "rebalance" }, flags);
  });

  const siteOf = async (shard: string): Promise<string> => {
    const etcd = etcdClient(etcdEndpoints(), tls());
    try {
      const layout = await readLayout(etcd);
      const sites = [...layout.assignments].filter(([, shards]) => shards.has(shard)).map(([site]) => site);
      if (sites.length !== 1) throw new PlanError(sites.length === 0 ? `shard ${shard} holds no assignment` : `shard ${shard} exists at sites ${sites.join(",")}: give --site`);
      return sites[0]!;
    } finally {
      etcd.close();
    }
  };

  addAuditCommands(program, () => globals().nats, tls, out);
  addProjectionCommands(program, { etcd: () => etcdClient(etcdEndpoints(), tls()), nats: () => globals().nats, tls, out });
  addImportCommand(program, tls, out);
  addSettingsCommands(program, tls, out);
  addModelCommands(program, tls, out);

  return program;
}

/** Option values (by commander attribute name) an endpoints file provides. */
function fromConfig(c: TajctlConfig): Record<string, string | string[] | undefined> {
  return {
    etcd: c.etcd,
    nats: c.nats.length > 0 ? c.nats : undefined,
    coordinator: c.coordinators.length > 0 ? c.coordinators : undefined,
    gateway: c.gateway,
    tlsCa: c.tls.caFile,
    tlsCert: c.tls.certFile,
    tlsKey: c.tls.keyFile,
  };
}
