import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { PeerCertificate } from "node:tls";
import { z } from "zod";

/**
 * Identities of the processes of a cluster, carried as the OU of their certificate's subject
 * (/O=TAJ/OU=<kind>/CN=<name>). admin = an operator (tajctl, the devcluster's bootstrap, tests,
 * drills, the bench); client = an external TAJ system calling the public API; nats and etcd are
 * the servers of the template log and of the cluster layout.
 */
export const PEER_KINDS = ["gateway", "coordinator", "shard", "extractor", "admin", "client", "nats", "etcd"] as const;
export type PeerKind = (typeof PEER_KINDS)[number];

/** The files of one identity: the CA that signs every certificate of the cluster, and its own pair. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** How often changed files are re-read (grpc-js's watcher); default 5 s. */
  reloadIntervalMs?: number;
}

const DEFAULT_RELOAD_MS = 5_000;

/** TLS settings every service has: certificates come from files (mounted secrets), never plaintext. */
export const tlsEnv = {
  TLS_CA_FILE: z.string().min(1),
  TLS_CERT_FILE: z.string().min(1),
  TLS_KEY_FILE: z.string().min(1),
  /** How often the files are checked for a rotation. */
  TLS_RELOAD_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(DEFAULT_RELOAD_MS),
};

export interface TlsEnv {
  TLS_CA_FILE: string;
  TLS_CERT_FILE: string;
  TLS_KEY_FILE: string;
  TLS_RELOAD_INTERVAL_MS?: number | undefined;
}

export function tlsFilesOf(env: TlsEnv): TlsFiles {
  return {
    caFile: env.TLS_CA_FILE,
    certFile: env.TLS_CERT_FILE,
    keyFile: env.TLS_KEY_FILE,
    ...(env.TLS_RELOAD_INTERVAL_MS === undefined ? {} : { reloadIntervalMs: env.TLS_RELOAD_INTERVAL_MS }),
  };
}

// One watcher per set of files, shared by the server and every channel of a process: the files
// are read once per interval however many connections use them.
const providers = new Map<string, grpc.experimental.FileWatcherCertificateProvider>();

function cachedProvider(config: grpc.experimental.FileWatcherCertificateProviderConfig): grpc.experimental.FileWatcherCertificateProvider {
  const key = JSON.stringify([config.caCertificateFile, config.certificateFile, config.privateKeyFile, config.refreshIntervalMs]);
  let provider = providers.get(key);
  if (!provider) {
    provider = new grpc.experimental.FileWatcherCertificateProvider(config);
    providers.set(key, provider);
  }
  return provider;
}

function providerOf(files: TlsFiles): grpc.experimental.FileWatcherCertificateProvider {
  return cachedProvider({
    caCertificateFile: files.caFile,
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    refreshIntervalMs: files.reloadIntervalMs ?? DEFAULT_RELOAD_MS,
  });
}

/**
 * Server credentials that reload changed files without a restart. requireClientCert: internal
 * servers (mutual TLS: a peer without a certificate of the cluster's CA cannot even finish the
 * handshake); the public port asks for a certificate but also admits bearer-token callers.
 */
export function serverCredentials(
  files: TlsFiles, options: { requireClientCert: boolean; clientCaFile?: string | undefined },
): grpc.ServerCredentials {
  const provider = providerOf(files);
  return grpc.experimental.createCertificateProviderServerCredentials(provider, caProviderOf(options.clientCaFile, files), options.requireClientCert);
}

/**
 * The CAs client certificates are checked against at the handshake: the cluster's own, or (the
 * public port) the one TAJ's systems' certificates come from. It matters beyond the handshake:
 * grpc-js shows a handler only a certificate the handshake verified (getAuthContext() is empty
 * otherwise), so a certificate that does not chain to these CAs is no identity at all.
 */
function caProviderOf(clientCaFile: string | undefined, files: TlsFiles): grpc.experimental.CertificateProvider {
  if (clientCaFile === undefined || clientCaFile === files.caFile) return providerOf(files);
  return cachedProvider({ caCertificateFile: clientCaFile, refreshIntervalMs: files.reloadIntervalMs ?? DEFAULT_RELOAD_MS });
}

/**
 * TLS that checks the server against the CA but presents no certificate: a person's client, who
 * authenticates with a bearer token (the gateway refuses a call that carries both).
 */
export function tokenCallerCredentials(caFile: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(readFileSync(caFile));
}

/** Channel credentials presenting this identity and trusting only the cluster's CA; reloaded like the server's. */
export function channelCredentials(files: TlsFiles): grpc.ChannelCredentials {
  const provider = providerOf(files);
  return grpc.experimental.createCertificateProviderChannelCredentials(provider, provider);
}

/**
 * The TLS part of a nats.js connection's options, for every NATS client of the repo. File names,
 * not contents: nats.js reads them on every (re)connect, so a rotated certificate is used from the
 * next connection on. The inbox prefix is the kind's own: NATS permissions let each kind subscribe
 * only to its own replies, so no client can read another's (a gateway's direct gets carry templates).
 */
export function natsTls(files: TlsFiles, kind: PeerKind): NatsTlsOptions {
  return { tls: { caFile: files.caFile, certFile: files.certFile, keyFile: files.keyFile }, inboxPrefix: natsInboxPrefix(kind) };
}

export interface NatsTlsOptions {
  tls: { caFile: string; certFile: string; keyFile: string };
  inboxPrefix: string;
}

export const natsInboxPrefix = (kind: PeerKind) => `_INBOX_${kind}`;

/** The `credentials` option of an etcd3 client (read now: etcd3 takes buffers, see docs/security.md on rotation). */
export function etcdCredentials(files: TlsFiles): { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer } {
  return {
    rootCertificate: readFileSync(files.caFile),
    certChain: readFileSync(files.certFile),
    privateKey: readFileSync(files.keyFile),
  };
}

/** The kind (subject OU) of a verified peer certificate, or undefined when it names none we know. */
export function peerKindOf(cert: PeerCertificate | undefined): PeerKind | undefined {
  const ou = cert?.subject?.OU;
  const value = Array.isArray(ou) ? (ou.length === 1 ? ou[0] : undefined) : ou;
  return (PEER_KINDS as readonly string[]).includes(value ?? "") ? (value as PeerKind) : undefined;
}

/**
 * The TLS files of a command-line tool (tajctl, eval) from the same TLS_* variables the services
 * read; throws a message naming what is missing rather than falling back to plaintext.
 */
export function tlsFilesFromEnv(env: NodeJS.ProcessEnv = process.env): TlsFiles {
  const parsed = z.object(tlsEnv).safeParse(env);
  if (!parsed.success) {
    throw new Error(`TLS is required: set ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")} (an admin certificate of the cluster's CA)`);
  }
  return tlsFilesOf(parsed.data);
}

/** When the certificates a process holds stop being valid (ms since epoch); undefined until read. */
export interface CertificateExpiry {
  /** The process's own certificate, as its servers and channels currently present it. */
  identityNotAfterMs(): number | undefined;
  /** The cluster CA (the earliest of a bundle: during a CA rotation the old one expires first). */
  caNotAfterMs(): number | undefined;
  close(): void;
}

/** notAfter of every certificate in a PEM bundle, in the order given. */
export function certificatesNotAfterMs(pem: string | Buffer): number[] {
  const blocks = pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => Date.parse(new X509Certificate(b).validTo)).filter((t) => Number.isFinite(t));
}

/**
 * Listens to the same file watcher the process's gRPC credentials use (one per set of files, see
 * providerOf): what it reports is what a rotation has made current, not what the files said at start.
 * close() removes the listeners (the watcher's timer keeps a process alive while any is left).
 */
export function watchCertificateExpiry(files: TlsFiles): CertificateExpiry {
  const provider = providerOf(files);
  let identity: number | undefined;
  let ca: number | undefined;
  const earliest = (pem: Buffer | undefined) => {
    const all = pem === undefined ? [] : certificatesNotAfterMs(pem);
    return all.length === 0 ? undefined : Math.min(...all);
  };
  const onIdentity: grpc.experimental.IdentityCertificateUpdateListener = (update) => {
    identity = earliest(update?.certificate);
  };
  const onCa: grpc.experimental.CaCertificateUpdateListener = (update) => {
    ca = earliest(update?.caCertificate);
  };
  provider.addIdentityCertificateListener(onIdentity);
  provider.addCaCertificateListener(onCa);
  return {
    identityNotAfterMs: () => identity,
    caNotAfterMs: () => ca,
    close() {
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
    },
  };
}
