import { Worker } from "node:worker_threads";
import { AppError } from "@taj/common";
import { ErrorCode } from "@taj/proto";

/** What the SIZ marker says, checked in the calling thread before anything is decoded. */
export interface Size {
  width: number;
  height: number;
  components: number;
  bitDepth: number;
}

export interface DecodeRequest {
  id: number;
  codestream: Uint8Array;
  size: Size;
}

/** 8-bit RGB, or why the data did not decode (a message part, safe for callers). */
export type DecodeReply = { id: number } & ({ rgb: Uint8Array } | { corrupt: string });

/**
 * The process's one JPEG 2000 decoding thread (jpeg2000-worker.ts), started at the first JPEG 2000
 * image and ended after IDLE_MS without one (the TypeScript loader it registers holds the process
 * open while it lives, whatever unref() says; a start costs a few hundred ms). Images are decoded
 * one after another there; the caller's thread only waits. A crash of the thread fails the images
 * in it and the next image starts a new one.
 */
const IDLE_MS = 3_000;

class DecoderThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(r: DecodeReply): void; reject(e: Error): void }>();
  #nextId = 1;
  #dead = false;
  #idle: NodeJS.Timeout | undefined;

  constructor() {
    const url = new URL("./jpeg2000-worker.ts", import.meta.url).href;
    const tsx = import.meta.resolve("tsx/esm/api");
    // Node 20 does not pass `--import tsx` hooks to workers: register tsx there, then load the .ts entry.
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
    this.#worker = new Worker(boot, { eval: true, execArgv: [] });
    // An idle decoder never keeps the process alive.
    this.#worker.unref();
    this.#worker.on("message", (reply: DecodeReply) => {
      const p = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      p?.resolve(reply);
      if (this.#pending.size === 0) this.#idle = setTimeout(() => this.#end(), IDLE_MS).unref();
    });
    const fail = (err: Error) => {
      this.#dead = true;
      for (const p of this.#pending.values()) p.reject(new AppError(ErrorCode.INTERNAL, "internal error", { cause: err }));
      this.#pending.clear();
    };
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => fail(new Error(`the JPEG 2000 thread exited (${code})`)));
  }

  #end(): void {
    this.#dead = true;
    void this.#worker.terminate();
  }

  get alive(): boolean {
    return !this.#dead;
  }

  /** `codestream`'s buffer is handed to the thread: the caller must not use it after. */
  decode(codestream: Uint8Array, size: Size): Promise<DecodeReply> {
    clearTimeout(this.#idle);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, codestream, size } satisfies DecodeRequest, [codestream.buffer as ArrayBuffer]);
    });
  }
}

let thread: DecoderThread | undefined;

export function decoderThread(): DecoderThread {
  if (!thread?.alive) thread = new DecoderThread();
  return thread;
}
