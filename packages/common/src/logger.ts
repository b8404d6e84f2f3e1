import { pino, type DestinationStream, type Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;

/**
 * JSON logs on stdout. Never log images, templates or anything about a person: ids are opaque
 * technical ids and may be logged; request payloads may not.
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? "info", destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // A template under any of its field names: template_f32 on the wire, template_f16 in the log, the deprecated floats.
    redact: { paths: ["image", "*.image", ...["template", "templateF32", "templateF16"].flatMap((f) => [f, `*.${f}`])], remove: true },
  };
  // A destination other than stdout: tests that read what a service logged.
  return destination ? pino(options, destination) : pino(options);
}
