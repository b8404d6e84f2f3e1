import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerKind, TlsFiles } from "@taj/common";

/**
 * A local certificate authority for one cluster dir, made with the openssl CLI (Debian's): one
 * EC P-256 CA in <dir>/pki/ca.pem (its key beside it, 0600) and one leaf certificate per process
 * identity, subject /O=TAJ/OU=<kind>/CN=<name>, usable as server and client (mutual TLS). One
 * openssl run per certificate (~7 ms), so a cluster's ~20 certificates cost well under a second.
 */
export interface Pki {
  /** The directory holding ca.pem, ca-key.pem and <kind>-<name>.{pem,key}. */
  readonly dir: string;
  readonly caFile: string;
  /** Issues (or returns the existing) certificate of an identity; hosts are added to the SAN. */
  issue(kind: PeerKind, name: string, hosts?: readonly string[]): TlsFiles;
  /** Replaces an identity's key and certificate in place (new serial), atomically: a rotation. */
  reissue(kind: PeerKind, name: string, hosts?: readonly string[]): TlsFiles;
  /** The operator identity (kind admin, CN admin): devcluster bootstrap, tajctl, tests, drills, bench. */
  readonly admin: TlsFiles;
  /** An external TAJ system calling the public API (kind client, CN taj-system). */
  readonly client: TlsFiles;
}

const OPENSSL_CONFIG = `# written by @taj/devcluster (pki.ts)
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(missing ? "openssl not found: run scripts/install-deps.sh (Debian package openssl)" : `openssl ${args[0]}: ${stderr}`, { cause: err });
  }
}

/**
 * SAN: the addresses the process is reached at, and a URI naming its kind. nats-server's
 * verify_and_map tries SAN URIs before the subject DN, and matches a DN only in full, so the URI
 * lets NATS grant permissions per kind (a shard added later needs no new NATS user).
 */
export const kindUri = (kind: PeerKind) => `taj:kind:${kind}`;

function sanOf(kind: PeerKind, hosts: readonly string[]): string {
  const entries = new Set(["IP:127.0.0.1", "DNS:localhost", `URI:${kindUri(kind)}`]);
  for (const h of hosts) entries.add(/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`);
  return `subjectAltName=${[...entries].join(",")}`;
}

/** Opens (or creates) the PKI of a cluster dir: <clusterDir>/pki. */
export function createPki(clusterDir: string): Pki {
  const dir = join(clusterDir, "pki");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, "ca.pem");
  const caKey = join(dir, "ca-key.pem");
  const config = join(dir, "openssl.cnf");
  if (!existsSync(config)) writeFileSync(config, OPENSSL_CONFIG);
  if (!existsSync(caFile) || !existsSync(caKey)) {
    openssl(["req", "-x509", "-new", ...EC_KEY, "-keyout", caKey, "-out", caFile, "-subj", "/O=TAJ/CN=TAJ local CA",
      "-days", "3650", "-config", config, "-extensions", "ca"], dir);
    chmodSync(caKey, 0o600);
  }
  const filesOf = (kind: PeerKind, name: string): TlsFiles => ({
    caFile,
    certFile: join(dir, `${kind}-${name}.pem`),
    keyFile: join(dir, `${kind}-${name}.key`),
  });
  const write = (kind: PeerKind, name: string, hosts: readonly string[]): TlsFiles => {
    if (!NAME.test(name)) throw new Error(`certificate name ${JSON.stringify(name)}: letters, digits, '.', '_', '-'`);
    const files = filesOf(kind, name);
    // Written beside, then renamed over: a process reloading its files never reads half a pair
    // (the key is renamed first; a reader between the two renames gets a mismatch and keeps its old pair).
    const tmpKey = `${files.keyFile}.tmp`;
    const tmpCert = `${files.certFile}.tmp`;
    openssl(["req", "-x509", "-new", ...EC_KEY, "-keyout", tmpKey, "-out", tmpCert, "-subj", `/O=TAJ/OU=${kind}/CN=${name}`,
      "-days", "825", "-CA", caFile, "-CAkey", caKey, "-config", config, "-extensions", "leaf", "-addext", sanOf(kind, hosts)], dir);
    chmodSync(tmpKey, 0o600);
    renameSync(tmpKey, files.keyFile);
    renameSync(tmpCert, files.certFile);
    return files;
  };
  const issue = (kind: PeerKind, name: string, hosts: readonly string[] = []) => {
    const files = filesOf(kind, name);
    return existsSync(files.certFile) && existsSync(files.keyFile) ? files : write(kind, name, hosts);
  };
  return {
    dir,
    caFile,
    issue,
    reissue: (kind, name, hosts = []) => write(kind, name, hosts),
    admin: issue("admin", "admin"),
    client: issue("client", "taj-system"),
  };
}

let testPki: Pki | undefined;

/** One PKI in a temp dir per test process, for tests that start single servers without a cluster. */
export function sharedTestPki(): Pki {
  if (!testPki) {
    const dir = mkdtempSync(join(tmpdir(), "taj-pki-"));
    testPki = createPki(dir);
    // Keys of a throwaway CA: gone with the test process.
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return testPki;
}

/** The TLS_* environment of a service with these files. */
export function tlsEnvOf(files: TlsFiles): Record<string, string> {
  return { TLS_CA_FILE: files.caFile, TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile };
}
