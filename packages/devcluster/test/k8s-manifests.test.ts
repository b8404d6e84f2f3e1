// Renders every overlay of deploy/k8s with the real kustomize (`kubectl kustomize`, Debian's
// kubernetes-client: kustomize v2.0, so the overlays use its syntax), validates every object
// against the Kubernetes schemas offline (kubernetes-models; Argo CD Applications with
// @kubernetes-models/argo-cd) and checks what the platform rules require of every workload.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap, Namespace, Service } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
import { findBinary, repoRoot, sharedTestPki } from "@taj/devcluster";
import { natsRouteTls, natsSecurityConfig } from "../src/nats-auth.ts";
// What the images are (deploy/images is no package: files of this repository, like deploy/k8s).
import { IMAGES, NODE_PATH, entrypointOf } from "../../../deploy/images/images.ts";

type Obj = Record<string, unknown>;
const k8s = join(repoRoot, "deploy", "k8s");
const OVERLAYS = ["site-a", "site-b", "witness"] as const;
const NAMESPACE: Record<(typeof OVERLAYS)[number], string> = { "site-a": "taj-site-a", "site-b": "taj-site-b", witness: "taj-witness" };
// The services' images are scripts/build-images.sh's (taj/<service>:<package.json version>).
const IMAGE = /^registry\.local\/taj\/(gateway|extractor|coordinator|shard|tajctl|nats-server|etcd):[0-9][\w.-]*$/;
const VERSION = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const SERVICES = ["gateway", "extractor", "coordinator"];

function at(o: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((v, key) => (v !== null && typeof v === "object" ? (v as Obj)[key] : undefined), o);
}
/** A key with dots in it (labels, file names) under the object at path. */
function key(o: unknown, path: string, k: string): unknown {
  const v = at(o, path);
  return v !== null && typeof v === "object" ? (v as Obj)[k] : undefined;
}
const APP = "app.kubernetes.io/name";
function list(o: unknown, path: string): Obj[] {
  const v = at(o, path);
  return Array.isArray(v) ? (v as Obj[]) : [];
}
function parse(text: string, what: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => {
      assert.deepEqual(d.errors, [], `${what} parses`);
      return d.toJS() as Obj | null;
    })
    .filter((o): o is Obj => o !== null);
}

function kubectl(): string {
  const found = (process.env.PATH ?? "").split(delimiter).map((d) => join(d, "kubectl")).find((p) => existsSync(p));
  assert.ok(found, "kubectl not found: run `bash scripts/install-deps.sh` (installs Debian's kubernetes-client, which has `kubectl kustomize`)");
  return found;
}

const rendered = new Map<string, Obj[]>();
function render(overlay: string): Obj[] {
  let objects = rendered.get(overlay);
  if (!objects) {
    const out = execFileSync(kubectl(), ["kustomize", join(k8s, "overlays", overlay)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    objects = parse(out, `kubectl kustomize overlays/${overlay}`);
    rendered.set(overlay, objects);
  }
  return objects;
}

// One model class per apiVersion/kind the manifests may use: anything else is a test failure.
type Model = { validate(): void };
const MODELS: Record<string, (o: Obj) => Model> = {
  "v1/ConfigMap": (o) => new ConfigMap(o as never),
  "v1/Namespace": (o) => new Namespace(o as never),
  "v1/Service": (o) => new Service(o as never),
  "apps/v1/Deployment": (o) => new Deployment(o as never),
  "apps/v1/StatefulSet": (o) => new StatefulSet(o as never),
  "batch/v1/Job": (o) => new Job(o as never),
  "autoscaling/v2/HorizontalPodAutoscaler": (o) => new HorizontalPodAutoscaler(o as never),
  "policy/v1/PodDisruptionBudget": (o) => new PodDisruptionBudget(o as never),
  "networking.k8s.io/v1/NetworkPolicy": (o) => new NetworkPolicy(o as never),
};
const id = (o: Obj) => `${String(o.kind)}/${String(at(o, "metadata.name"))}`;

describe("kubectl kustomize", () => {
  test("kubectl is installed (scripts/install-deps.sh installs it)", () => {
    kubectl();
  });
  test("the schema check refuses an invalid object (so a pass means something)", () => {
    const bad = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { replicas: "two", selector: {}, template: {} } };
    assert.throws(() => MODELS["apps/v1/Deployment"]!(bad).validate());
  });
});

for (const overlay of OVERLAYS) {
  describe(`deploy/k8s/overlays/${overlay}`, () => {
    const objects = () => render(overlay);
    const find = (kind: string, name: string) => objects().find((o) => o.kind === kind && at(o, "metadata.name") === name);
    const workloads = () => objects().filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
    const ns = NAMESPACE[overlay];

    test("renders, and every object is valid against the Kubernetes schema", () => {
      assert.ok(objects().length > 5);
      for (const o of objects()) {
        const model = MODELS[`${String(o.apiVersion)}/${String(o.kind)}`];
        assert.ok(model, `${id(o)}: ${String(o.apiVersion)} ${String(o.kind)} has a schema here`);
        assert.doesNotThrow(() => model(o).validate(), `${id(o)} is valid`);
      }
    });

    test(`everything in namespace ${ns}, which is declared with the restricted Pod Security Standard`, () => {
      for (const o of objects()) if (o.kind !== "Namespace") assert.equal(at(o, "metadata.namespace"), ns, id(o));
      const n = find("Namespace", ns);
      assert.ok(n, `Namespace ${ns}`);
      assert.equal(key(n, "metadata.labels", "pod-security.kubernetes.io/enforce"), "restricted");
    });

    test("default deny for ingress and egress, DNS allowed, every pod selected by a policy of its own", () => {
      const policies = objects().filter((o) => o.kind === "NetworkPolicy");
      const deny = policies.find((p) => Object.keys((at(p, "spec.podSelector.matchLabels") as Obj | undefined) ?? {}).length === 0
        && (at(p, "spec.podSelector.matchExpressions") === undefined) && at(p, "spec.ingress") === undefined && at(p, "spec.egress") === undefined);
      assert.ok(deny, "a policy selecting every pod with no rule");
      assert.deepEqual([...(at(deny, "spec.policyTypes") as string[])].sort(), ["Egress", "Ingress"]);
      assert.ok(policies.some((p) => list(p, "spec.egress").some((r) => list(r, "ports").some((port) => port.port === 53))), "DNS egress");
      for (const w of workloads()) {
        const name = String(key(w, "spec.selector.matchLabels", APP));
        assert.ok(policies.some((p) => key(p, "spec.podSelector.matchLabels", APP) === name), `NetworkPolicy for ${name}`);
      }
    });

    test("every workload: non-root, read-only root fs, no capabilities, no escalation, seccomp, requests and limits, the project's images", () => {
      assert.ok(workloads().length >= 2);
      for (const w of workloads()) {
        const pod = at(w, "spec.template.spec") as Obj;
        assert.equal(at(pod, "securityContext.runAsNonRoot"), true, `${id(w)} runAsNonRoot`);
        assert.ok(Number(at(pod, "securityContext.runAsUser")) > 0, `${id(w)} runAsUser`);
        assert.equal(at(pod, "securityContext.seccompProfile.type"), "RuntimeDefault", `${id(w)} seccomp`);
        assert.equal(pod.automountServiceAccountToken, false, `${id(w)} needs no API token`);
        assert.ok(list(pod, "topologySpreadConstraints").length > 0, `${id(w)} spread over nodes`);
        for (const c of [...list(pod, "initContainers"), ...list(pod, "containers")]) {
          const where = `${id(w)} ${String(c.name)}`;
          assert.match(String(c.image), IMAGE, `${where} image`);
          const own = /^registry\.local\/taj\/(gateway|extractor|coordinator|shard):(.*)$/.exec(String(c.image));
          if (own) assert.equal(own[2], VERSION, `${where}: the tag build-images.sh gives (package.json version)`);
          assert.equal(at(c, "securityContext.allowPrivilegeEscalation"), false, where);
          assert.equal(at(c, "securityContext.readOnlyRootFilesystem"), true, where);
          assert.deepEqual(at(c, "securityContext.capabilities.drop"), ["ALL"], where);
          assert.equal(at(c, "securityContext.capabilities.add"), undefined, where);
          for (const r of ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"]) assert.ok(at(c, `resources.${r}`), `${where} ${r}`);
          for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) assert.ok(at(c, probe), `${where} ${probe}`);
          const volumes = new Set([...list(pod, "volumes").map((v) => v.name), ...list(w, "spec.volumeClaimTemplates").map((v) => at(v, "metadata.name"))]);
          for (const m of list(c, "volumeMounts")) assert.ok(volumes.has(m.name), `${where}: volume ${String(m.name)} defined`);
          for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
            const port = at(c, `${probe}.httpGet.port`);
            assert.ok(list(c, "ports").some((p) => p.name === port), `${where} ${probe} port ${String(port)} is declared`);
          }
        }
        const selector = at(w, "spec.selector.matchLabels") as Obj;
        const labels = at(w, "spec.template.metadata.labels") as Obj;
        for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `${id(w)} selector matches its pods`);
        const pdb = objects().find((o) => o.kind === "PodDisruptionBudget"
          && Object.entries(at(o, "spec.selector.matchLabels") as Obj).every(([k, v]) => labels[k] === v));
        assert.ok(pdb, `${id(w)} has a PodDisruptionBudget`);
      }
    });

    test("every StatefulSet has volumeClaimTemplates and a headless governing Service", () => {
      for (const s of objects().filter((o) => o.kind === "StatefulSet")) {
        assert.ok(list(s, "spec.volumeClaimTemplates").length > 0, `${id(s)} volumeClaimTemplates`);
        const svc = find("Service", String(at(s, "spec.serviceName")));
        assert.equal(at(svc, "spec.clusterIP"), "None", `${id(s)} governing Service headless`);
      }
    });

    test("every Service selects pods and targets their named ports", () => {
      for (const svc of objects().filter((o) => o.kind === "Service")) {
        const sel = at(svc, "spec.selector") as Obj;
        const w = workloads().find((x) => Object.entries(sel).every(([k, v]) => (at(x, "spec.template.metadata.labels") as Obj)[k] === v));
        assert.ok(w, `${id(svc)} selects a workload`);
        const names = new Set(list(w, "spec.template.spec.containers.0.ports").map((p) => p.name));
        for (const p of list(svc, "spec.ports")) assert.ok(names.has(p.targetPort), `${id(svc)} targetPort ${String(p.targetPort)}`);
      }
    });

    test("NATS and etcd: one member here, mutual TLS from a Secret, config mirroring packages/devcluster", () => {
      const site = overlay === "witness" ? "w" : overlay.slice(-1);
      const tls = { caFile: "/etc/nats/tls/ca.crt", certFile: "/etc/nats/tls/tls.crt", keyFile: "/etc/nats/tls/tls.key" };
      const natsConf = String(key(find("ConfigMap", "taj-nats-config"), "data", "nats.conf"));
      const unindent = (s: string) => s.split("\n").map((l) => l.trim()).filter(Boolean).join("\n");
      assert.ok(unindent(natsConf).includes(unindent(natsSecurityConfig(tls))), "tls + authorization are natsSecurityConfig()'s");
      assert.ok(unindent(natsConf).includes(unindent(natsRouteTls(tls))), "route tls is natsRouteTls()'s");
      assert.match(natsConf, /unique_tag: "site:"/);
      for (const n of Object.values(NAMESPACE)) assert.ok(natsConf.includes(`nats-route://taj-nats-0.taj-nats.${n}.svc:6222`), `route to ${n}`);
      const siteConf = String(key(find("ConfigMap", "taj-nats-config"), "data", "site.conf"));
      assert.match(siteConf, new RegExp(`server_name: "nats-${site}"`));
      assert.match(siteConf, new RegExp(`server_tags: \\["site:${site}"\\]`));
      const etcd = at(find("ConfigMap", "taj-etcd-config"), "data") as Record<string, string>;
      assert.equal(etcd.ETCD_NAME, site);
      assert.equal(etcd.ETCD_ADVERTISE_CLIENT_URLS, `https://taj-etcd-0.taj-etcd.${ns}.svc:2379`);
      assert.ok(etcd.ETCD_INITIAL_CLUSTER!.split(",").includes(`${site}=${etcd.ETCD_INITIAL_ADVERTISE_PEER_URLS}`), "this member is in the initial cluster");
      assert.equal(etcd.ETCD_INITIAL_CLUSTER!.split(",").length, 3);
      assert.equal(etcd.ETCD_CLIENT_CERT_AUTH, "true");
      assert.equal(etcd.ETCD_PEER_CLIENT_CERT_AUTH, "true");
      for (const k of ["ETCD_LISTEN_CLIENT_URLS", "ETCD_LISTEN_PEER_URLS"]) assert.match(etcd[k]!, /^https:\/\//, k);
      for (const [sts, secret] of [["taj-nats", "taj-nats-tls"], ["taj-etcd", "taj-etcd-tls"]] as const) {
        const s = find("StatefulSet", sts);
        assert.equal(at(s, "spec.replicas"), 1, `${sts}: one per site`);
        assert.equal(list(s, "spec.template.spec.volumes").find((v) => v.name === "tls")?.secret !== undefined, true);
        assert.equal(at(list(s, "spec.template.spec.volumes").find((v) => v.name === "tls"), "secret.secretName"), secret);
      }
    });

    test("each service container runs its own image, and a command there starts what the image's entry point starts", () => {
      const seen = new Set<string>();
      for (const w of workloads()) {
        for (const c of list(at(w, "spec.template.spec") as Obj, "containers")) {
          const own = /^registry\.local\/taj\/(gateway|extractor|coordinator|shard):/.exec(String(c.image));
          if (!own) continue;
          const spec = IMAGES.find((i) => i.name === own[1]);
          assert.ok(spec, `${id(w)}: scripts/build-images.sh builds ${own[1]}`);
          seen.add(spec.name);
          // No command = the image's ENTRYPOINT; one given must not start another service, or
          // bypass the entry point's flags ("node" is on the image's PATH).
          if (c.command === undefined) continue;
          const [node, ...args] = c.command as string[];
          assert.ok(node === "node" || node === NODE_PATH, `${id(w)}: command runs node (${String(node)})`);
          assert.deepEqual(args, entrypointOf(spec).slice(1), `${id(w)}: command = the image's entry point`);
        }
      }
      // A site runs all four services; the witness none.
      assert.deepEqual([...seen].sort(), overlay === "witness" ? [] : ["coordinator", "extractor", "gateway", "shard"]);
    });

    test("nats-server 2.10 accepts the rendered config (nats-server -t, certificates of a test CA)", () => {
      const nats = findBinary("nats-server");
      assert.ok(nats, "nats-server not found: run `bash scripts/install-deps.sh`");
      const data = at(find("ConfigMap", "taj-nats-config"), "data") as Record<string, string>;
      const dir = mkdtempSync(join(tmpdir(), "taj-k8s-nats-"));
      try {
        const tls = sharedTestPki().issue("nats", "nats-k8s-manifest", ["127.0.0.1"]);
        const conf = data["nats.conf"]!.replaceAll('"/etc/nats/tls/tls.crt"', JSON.stringify(tls.certFile))
          .replaceAll('"/etc/nats/tls/tls.key"', JSON.stringify(tls.keyFile)).replaceAll('"/etc/nats/tls/ca.crt"', JSON.stringify(tls.caFile))
          .replace('"/data/jetstream"', JSON.stringify(join(dir, "js")));
        writeFileSync(join(dir, "nats.conf"), conf);
        writeFileSync(join(dir, "site.conf"), data["site.conf"]!);
        const ok = spawnSync(nats, ["-t", "-c", join(dir, "nats.conf")], { encoding: "utf8" });
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stderr, /is valid/);
        // The check is real: a broken config is refused.
        writeFileSync(join(dir, "site.conf"), "server_name: [unterminated\n");
        assert.notEqual(spawnSync(nats, ["-t", "-c", join(dir, "nats.conf")], { encoding: "utf8" }).status, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    if (overlay === "witness") {
      test("the witness runs no matching service", () => {
        assert.deepEqual(workloads().map((w) => at(w, "metadata.name")).sort(), ["taj-etcd", "taj-nats"]);
      });
      return;
    }

    const site = overlay.slice(-1);
    const other = site === "a" ? "b" : "a";
    test("gateway, extractor, coordinator: Deployments with a CPU HPA (which owns replicas) and a PDB; headless Services for gRPC balancing", () => {
      for (const svc of SERVICES) {
        const d = find("Deployment", `taj-${svc}`);
        assert.ok(d, `Deployment taj-${svc}`);
        assert.equal(at(d, "spec.replicas"), undefined, `taj-${svc}: no replicas, the HPA decides`);
        const hpa = objects().find((o) => o.kind === "HorizontalPodAutoscaler" && at(o, "spec.scaleTargetRef.name") === `taj-${svc}`);
        assert.equal(at(hpa, "spec.scaleTargetRef.kind"), "Deployment", `HPA for taj-${svc}`);
        assert.ok(Number(at(hpa, "spec.minReplicas")) >= 2, "at least two pods");
        assert.ok(list(hpa, "spec.metrics").some((m) => at(m, "resource.name") === "cpu"), "scales on CPU");
      }
      for (const svc of ["extractor", "coordinator", "shard"]) assert.equal(at(find("Service", `taj-${svc}`), "spec.clusterIP"), "None", `taj-${svc} headless`);
    });

    test("services: entry points exist, one ConfigMap, TLS secrets mounted as directories, probes on the metrics port", () => {
      const cm = at(find("ConfigMap", "taj-config"), "data") as Record<string, string>;
      assert.equal(cm.GRPC_HOST, "0.0.0.0");
      assert.equal(cm.METRICS_HOST, "0.0.0.0");
      for (const key of ["TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"]) assert.match(cm[key]!, /^\/etc\/taj\/tls\//, key);
      for (const w of workloads().filter((x) => String(at(x, "metadata.name")).match(/^taj-(gateway|extractor|coordinator|shard)$/))) {
        const c = list(w, "spec.template.spec.containers")[0]!;
        const command = at(c, "command") as string[];
        assert.ok(existsSync(join(repoRoot, command[command.length - 1]!)), `${id(w)} entry point exists`);
        assert.deepEqual(list(c, "envFrom").map((e) => at(e, "configMapRef.name")), ["taj-config"]);
        assert.equal(String(list(c, "ports").find((p) => p.name === "grpc")?.containerPort), cm.GRPC_PORT);
        assert.equal(String(list(c, "ports").find((p) => p.name === "metrics")?.containerPort), cm.METRICS_PORT);
        // kubelet's grpc probe has no TLS and every gRPC port is mutual TLS.
        for (const probe of ["startupProbe", "readinessProbe"]) assert.equal(at(c, `${probe}.httpGet.path`), "/readyz", `${id(w)} ${probe}`);
        assert.equal(at(c, "livenessProbe.httpGet.path"), "/healthz");
        const mount = list(c, "volumeMounts").find((m) => m.name === "tls");
        assert.equal(mount?.mountPath, "/etc/taj/tls");
        assert.equal(mount?.subPath, undefined, "a directory, so a renewed secret is seen");
        assert.match(String(at(list(w, "spec.template.spec.volumes").find((v) => v.name === "tls"), "secret.secretName")), /^taj-[a-z]+-tls$/);
        assert.ok(list(c, "volumeMounts").some((m) => m.mountPath === "/tmp"), `${id(w)} writable /tmp`);
      }
      const shardEnv = Object.fromEntries(list(find("StatefulSet", "taj-shard"), "spec.template.spec.containers.0.env").map((e) => [String(e.name), e] as const));
      assert.equal(at(shardEnv.SHARD_ID, "value"), "$(POD_NAME)");
      assert.equal(at(shardEnv.DATA_DIR, "value"), "/data");
    });

    test(site === "a" ? "site A holds the one bootstrap: a Job running the tajctl image's init, as an Argo CD Sync hook" : "site B has no bootstrap of its own (site A's makes the cluster's streams)", () => {
      const jobs = objects().filter((o) => o.kind === "Job");
      if (site !== "a") return assert.deepEqual(jobs, []);
      assert.equal(jobs.length, 1);
      const job = jobs[0]!;
      assert.equal(key(job, "metadata.annotations", "argocd.argoproj.io/hook"), "Sync");
      const pod = at(job, "spec.template.spec") as Obj;
      assert.equal(at(pod, "securityContext.runAsNonRoot"), true);
      assert.equal(at(pod, "securityContext.seccompProfile.type"), "RuntimeDefault");
      assert.equal(pod.automountServiceAccountToken, false);
      const c = list(pod, "containers")[0]!;
      assert.equal(c.image, `registry.local/taj/tajctl:${VERSION}`);
      assert.equal(c.command, undefined, "the image's entry point (tajctl)");
      assert.equal((c.args as string[])[0], "init");
      assert.equal(at(c, "securityContext.readOnlyRootFilesystem"), true);
      assert.deepEqual(at(c, "securityContext.capabilities.drop"), ["ALL"]);
      assert.equal(at(list(pod, "volumes").find((v) => v.name === "tls"), "secret.secretName"), "taj-admin-tls");
      const env = Object.fromEntries(list(c, "env").map((e): [string, Obj] => [String(e.name), e]));
      assert.equal(at(env.NATS_URLS, "valueFrom.configMapKeyRef.name"), "taj-config");
      assert.ok(find("NetworkPolicy", "taj-bootstrap"), "a policy of its own");
    });

    test(`SITE=${site}: own NATS node and etcd member first, the other site's coordinator as fallback`, () => {
      const cm = at(find("ConfigMap", "taj-config"), "data") as Record<string, string>;
      assert.equal(cm.SITE, site);
      assert.deepEqual(cm.NATS_URLS!.split(","), [`taj-site-${site}`, `taj-site-${other}`, "taj-witness"].map((n) => `nats://taj-nats.${n}.svc:4222`));
      assert.deepEqual(cm.ETCD_ENDPOINTS!.split(","), [`taj-site-${site}`, `taj-site-${other}`, "taj-witness"].map((n) => `https://taj-etcd.${n}.svc:2379`));
      assert.deepEqual(cm.COORDINATOR_ADDRESSES!.split(","), ["taj-coordinator:7000", `taj-coordinator.taj-site-${other}.svc:7000`]);
    });

    test("network policies allow exactly the flows of the issue", () => {
      const policy = (name: string) => find("NetworkPolicy", name)!;
      // Peers a rule admits, as "app:port" (pods named by app.kubernetes.io/name; ipBlock as "cidr").
      const peers = (rules: Obj[], side: "from" | "to") => rules.flatMap((r) => list(r, side).flatMap((peer) => {
        const names = key(peer, "podSelector.matchLabels", APP);
        const many = list(peer, "podSelector.matchExpressions").flatMap((e) => e.values as string[]);
        const cidr = at(peer, "ipBlock.cidr");
        const who = typeof names === "string" ? [names] : many.length ? many : [typeof cidr === "string" ? cidr : "?"];
        return who.flatMap((w) => list(r, "ports").map((p) => `${w}:${String(p.port)}`));
      }));
      const ingress = (name: string) => new Set(peers(list(policy(name), "spec.ingress"), "from"));
      const egress = (name: string) => new Set(peers(list(policy(name), "spec.egress"), "to"));
      assert.deepEqual(ingress("taj-gateway"), new Set(["192.0.2.0/24:7000", "prometheus:9090"]));
      assert.deepEqual(egress("taj-gateway"), new Set(["taj-extractor:7000", "taj-coordinator:7000", "taj-nats:4222", "taj-etcd:2379", "192.0.2.0/24:443"]));
      assert.deepEqual(ingress("taj-extractor"), new Set(["taj-gateway:7000", "prometheus:9090"]));
      assert.deepEqual(egress("taj-extractor"), new Set());
      assert.deepEqual(ingress("taj-coordinator"), new Set(["taj-gateway:7000", "prometheus:9090"]));
      assert.deepEqual(egress("taj-coordinator"), new Set(["taj-shard:7000", "taj-etcd:2379"]));
      assert.deepEqual(ingress("taj-shard"), new Set(["taj-coordinator:7000", "prometheus:9090"]));
      assert.deepEqual(egress("taj-shard"), new Set(["taj-nats:4222", "taj-etcd:2379"]));
      assert.deepEqual(ingress("taj-nats"), new Set(["taj-gateway:4222", "taj-shard:4222", "taj-bootstrap:4222", "taj-nats:6222", "prometheus:8222"]));
      if (site === "a") {
        assert.deepEqual(ingress("taj-bootstrap"), new Set());
        assert.deepEqual(egress("taj-bootstrap"), new Set(["taj-nats:4222"]));
      }
      assert.deepEqual(egress("taj-nats"), new Set(["taj-nats:6222"]));
      assert.deepEqual(ingress("taj-etcd"), new Set(["taj-gateway:2379", "taj-coordinator:2379", "taj-shard:2379", "taj-etcd:2380", "prometheus:2381"]));
      assert.deepEqual(egress("taj-etcd"), new Set(["taj-etcd:2380"]));
    });
  });
}

describe("deploy/argocd", () => {
  const dir = join(repoRoot, "deploy", "argocd");
  test("one valid Application per overlay, syncing it into its namespace", () => {
    const apps = readdirSync(dir).filter((f) => f.endsWith(".yaml")).flatMap((f) => parse(readFileSync(join(dir, f), "utf8"), f));
    assert.equal(apps.length, OVERLAYS.length);
    for (const overlay of OVERLAYS) {
      const app = apps.find((a) => at(a, "spec.source.path") === `deploy/k8s/overlays/${overlay}`);
      assert.ok(app, `an Application for ${overlay}`);
      assert.equal(app.kind, "Application");
      assert.doesNotThrow(() => new Application(app as never).validate(), `Application for ${overlay} is valid`);
      assert.equal(at(app, "spec.destination.namespace"), NAMESPACE[overlay]);
      assert.equal(at(app, "spec.syncPolicy.automated.prune"), true);
      assert.ok(existsSync(join(repoRoot, String(at(app, "spec.source.path")), "kustomization.yaml")));
    }
  });
});
