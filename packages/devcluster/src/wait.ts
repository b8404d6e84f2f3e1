import { setTimeout as sleep } from "node:timers/promises";
import { readFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import type { TlsFiles } from "@taj/common";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked before each attempt: lets a caller give up early, e.g. when the process died. */
  abortIf?: () => string | undefined;
}

/**
 * Polls `probe` until it returns a value other than undefined. The last error or reason is kept
 * so a timeout says what was still wrong instead of just "timed out".
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: string;
  for (;;) {
    const abort = options.abortIf?.();
    if (abort !== undefined) throw new Error(`${what}: ${abort}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = "not ready";
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not ready after ${options.timeoutMs} ms (last: ${last})`);
    await sleep(options.intervalMs ?? 200);
  }
}

/** GET a local monitoring endpoint and parse its JSON body; throws on any non-2xx. */
export async function getJson(url: string, timeoutMs = 2_000): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** GET over mutual TLS (etcd's /health once client-cert auth is on) and parse the JSON body. */
export function getJsonTls(url: string, tls: TlsFiles, timeoutMs = 2_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(
      url,
      { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString()));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${url}: timed out`)));
    req.on("error", reject);
  });
}
