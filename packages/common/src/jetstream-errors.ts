// What a JetStream API answer means, in one place: the template log, the audit trail and the
// stream bootstraps all ask the same questions of nats.js errors.

/** The stream does not exist (yet). */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof Error && /stream not found/i.test(err.message);
}

/** A direct or API get found no message (none on that subject, or at that sequence). */
export function isNoMessage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const api = (err as { api_error?: { err_code?: number } }).api_error;
  return api?.err_code === 10037 || /no message found/i.test(err.message);
}

/** Nobody answered the request: e.g. a consumer just created elsewhere in the cluster. */
export function isNoResponders(err: unknown): boolean {
  return err instanceof Error && ((err as { code?: string }).code === "503" || /no responders/i.test(err.message));
}
