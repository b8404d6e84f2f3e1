import { createHash, X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, PrincipalKind, PrincipalSchema, type Principal, type Role } from "@taj/proto";
import { AppError } from "@taj/common";
import { ReloadingFile } from "./reloading-file.ts";

const CLIENT_AUTH_EKU = "1.3.6.1.5.5.7.3.2";
const CN_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Verified certificates remembered (a TLS connection brings the same one on every call). */
const CACHE_MAX = 1_000;
const CACHE_TTL_MS = 60_000;

interface Verified {
  principal: Principal;
  /** Re-checked after this (ms since epoch): never beyond the certificate's or its CA's notAfter. */
  until: number;
  cas: readonly X509Certificate[];
}

const unauthenticated = (message: string) => new AppError(ErrorCode.UNAUTHENTICATED, message);

/** Every certificate in a PEM bundle; each must be a CA (basicConstraints CA:TRUE). */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error("no certificate in the CA file");
  const cas = blocks.map((b) => new X509Certificate(b));
  if (cas.some((c) => !c.ca)) throw new Error("the CA file holds a certificate that is not a CA");
  return cas;
}

/** The subject's CN, from node's "O=TAJ\nOU=system\nCN=taj-system" form; undefined unless exactly one. */
function commonName(cert: X509Certificate): string | undefined {
  const cns = cert.subject.split("\n").filter((l) => l.startsWith("CN=")).map((l) => l.slice(3));
  return cns.length === 1 ? cns[0] : undefined;
}

/**
 * Verifies a TLS client certificate itself. The public port asks for client certificates but does
 * not require them (people come with tokens); its handshake checks them against CLIENT_CA_FILE and
 * grpc-js shows handlers only a certificate that passed (a foreign one is no identity: the call
 * is judged by its token alone). This check is the second, and the one that stays true if the
 * transport ever shows more (or the file changes between handshakes). Accepted: issued directly by one of the CAs (issuer
 * name and signature), within its validity window, a CA's validity window too, and if the
 * certificate restricts its use, allowed for client authentication.
 */
export class ClientCertificateVerifier {
  readonly #cas: ReloadingFile<X509Certificate[]>;
  readonly #roles: ReadonlyMap<string, readonly Role[]>;
  readonly #verified = new Map<string, Verified>();

  constructor(caFile: string, roles: ReadonlyMap<string, readonly Role[]>, onReloadError?: (err: unknown) => void) {
    this.#cas = new ReloadingFile(caFile, parseCaBundle, onReloadError ? { onError: onReloadError } : {});
    this.#roles = roles;
  }

  /**
   * The principal of a presented certificate. Parsing and the signature check cost ~0.3 ms, so a
   * success is remembered by the certificate's SHA-256 for up to a minute (and never past its or
   * its CA's expiry, nor past a change of the CA file); failures are not remembered.
   */
  verify(peer: PeerCertificate, now = new Date()): Principal {
    const cas = this.#cas.get();
    const key = createHash("sha256").update(peer.raw ?? Buffer.alloc(0)).digest("base64");
    const known = this.#verified.get(key);
    if (known && known.cas === cas && now.getTime() <= known.until) return copy(known.principal);
    this.#verified.delete(key);
    const { principal, until } = this.#check(peer, cas, now);
    if (this.#verified.size >= CACHE_MAX) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(key, { principal, until, cas });
    return copy(principal);
  }

  #check(peer: PeerCertificate, cas: readonly X509Certificate[], now: Date): { principal: Principal; until: number } {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(peer.raw);
    } catch {
      throw unauthenticated("the client certificate could not be read");
    }
    const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey) && within(ca, now));
    if (!issuer) throw unauthenticated("the client certificate is not signed by a trusted CA");
    if (!within(cert, now)) throw unauthenticated("the client certificate is expired or not yet valid");
    if (cert.ca) throw unauthenticated("a CA certificate is not a client certificate");
    const usage = cert.keyUsage;
    if (usage !== undefined && usage.length > 0 && !usage.includes(CLIENT_AUTH_EKU)) {
      throw unauthenticated("the client certificate is not for client authentication");
    }
    const cn = commonName(cert);
    if (cn === undefined || !CN_PATTERN.test(cn)) throw unauthenticated("the client certificate's subject needs one CN of A-Z a-z 0-9 _ . -");
    // A valid certificate with no entry in CLIENT_CERT_ROLES is authenticated with no role: its
    // calls are refused PERMISSION_DENIED and audited under its name, not as anonymous.
    const principal = create(PrincipalSchema, { id: `cert:${cn}`, kind: PrincipalKind.CERTIFICATE, roles: [...(this.#roles.get(cn) ?? [])] });
    const until = Math.min(now.getTime() + CACHE_TTL_MS, Date.parse(cert.validTo), Date.parse(issuer.validTo));
    return { principal, until };
  }
}

const copy = (p: Principal): Principal => create(PrincipalSchema, { id: p.id, kind: p.kind, roles: [...p.roles] });

function within(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}
