import { Etcd3, type Watcher } from "etcd3";
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { ErrorCode, Modality, SettingsVersionSchema, type ModalitySettings, type SettingsVersion } from "@taj/proto";
import {
  ALL_MODALITIES, AppError, MAX_CANDIDATES, SETTINGS_HISTORY_PREFIX, SETTINGS_PREFIX, etcdCredentials, modalityName, settingsHistoryKey,
  settingsKey, type Logger, type TlsFiles,
} from "@taj/common";
import { validateModalitySettings } from "../validation.ts";

/** Values from etcd are checked against the cluster-wide ceiling; each gateway clamps to its own limit when it applies them. */
const STORED_LIMITS = { maxCandidatesLimit: MAX_CANDIDATES };

export interface SettingsChange {
  settings: ModalitySettings;
  expectedRevision: bigint;
  reason: string;
  changedBy: string;
}

export interface SettingsStoreOptions {
  gatewayId: string;
  /** This gateway's DEFAULT_* environment: written only for a modality etcd has no settings for yet. */
  initial: readonly ModalitySettings[];
}

/**
 * The per-modality defaults, owned by the gateways: etcd holds the current version of each and its
 * history, written together in one transaction; every gateway watches the current versions and
 * applies each as it arrives. Until all three are read the gateway does not serve (like the
 * partition count): a restart during an etcd outage must not fall back to its environment's
 * values, which an administrator may have changed long ago.
 */
export class SettingsStore {
  readonly #current = new Map<Modality, SettingsVersion>();
  #watcher: Watcher | undefined;
  #closed = false;
  readonly #client: Etcd3;

  constructor(endpoints: string[], tls: TlsFiles, private readonly options: SettingsStoreOptions, private readonly logger: Logger) {
    this.#client = new Etcd3({ hosts: endpoints, dialTimeout: 2_000, credentials: etcdCredentials(tls) });
  }

  get loaded(): boolean {
    return ALL_MODALITIES.every((m) => this.#current.has(m));
  }

  /** The version this gateway applies now; UNAVAILABLE until loaded. */
  version(modality: Modality): SettingsVersion {
    const version = this.#current.get(modality);
    if (!version) throw new AppError(ErrorCode.UNAVAILABLE, "the search defaults are not loaded yet; retry");
    return version;
  }

  settings(modality: Modality): ModalitySettings {
    return this.version(modality).settings!;
  }

  async start(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await this.#seed();
        this.#watcher = await this.#client.watch().prefix(SETTINGS_PREFIX).create();
        this.#watcher
          .on("put", (kv) => this.#apply(kv.key.toString(), kv.value.toString()))
          .on("delete", (kv) => this.logger.error({ key: kv.key.toString() }, "settings deleted from etcd; keeping the last ones (the next gateway to start writes its environment's values)"))
          .on("disconnected", (err) => this.logger.warn({ err }, "etcd unreachable; keeping the last settings"));
        for (const [key, value] of Object.entries(await this.#client.getAll().prefix(SETTINGS_PREFIX).strings())) this.#apply(key, value);
        return;
      } catch (err) {
        this.logger.warn({ err, attempt }, "cannot read the settings from etcd; retrying");
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  /** Writes this gateway's environment values for each modality that has none (the first gateway of a new cluster). */
  async #seed(): Promise<void> {
    for (const settings of this.options.initial) {
      const version = create(SettingsVersionSchema, {
        settings,
        revision: 1n,
        changedAt: timestampNow(),
        changedBy: `gateway:${this.options.gatewayId}`,
        reason: "initial values from the gateway's environment",
      });
      const written = await this.#writeIf(settings.modality, version, 0);
      if (written) this.logger.info({ modality: modalityName(settings.modality) }, "wrote the initial settings from the environment");
    }
  }

  /**
   * Writes the new current version and its history entry, if the current key is still at etcd
   * revision `modRevision` (0: absent). False when another write came first.
   */
  async #writeIf(modality: Modality, version: SettingsVersion, modRevision: number | string): Promise<boolean> {
    const name = modalityName(modality);
    const json = toJsonString(SettingsVersionSchema, version);
    const key = settingsKey(name);
    const result = await this.#client
      .if(key, modRevision === 0 ? "Create" : "Mod", "==", modRevision)
      .then(this.#client.put(key).value(json), this.#client.put(settingsHistoryKey(name, version.revision)).value(json))
      .commit();
    return result.succeeded;
  }

  /** UpdateSettings: compare-and-swap on the current version; throws SETTINGS_REVISION_CHANGED or UNAVAILABLE. */
  async update(change: SettingsChange): Promise<{ before: SettingsVersion; after: SettingsVersion }> {
    const name = modalityName(change.settings.modality);
    const read = await this.#etcd(() => this.#client.get(settingsKey(name)).exec());
    const kv = read.kvs[0];
    if (!kv) throw new AppError(ErrorCode.UNAVAILABLE, "the settings are not initialised in etcd yet; retry");
    const before = this.#parse(kv.value.toString());
    if (!before) throw new AppError(ErrorCode.INTERNAL, "the stored settings are invalid", { cause: new Error(`unreadable ${settingsKey(name)}`) });
    if (before.revision !== change.expectedRevision) throw revisionChanged(before.revision);
    const after = create(SettingsVersionSchema, {
      settings: change.settings,
      revision: before.revision + 1n,
      changedAt: timestampNow(),
      changedBy: change.changedBy,
      reason: change.reason,
    });
    if (!(await this.#etcd(() => this.#writeIf(change.settings.modality, after, kv.mod_revision)))) throw revisionChanged(undefined);
    // The watch applies it too; applying now means this gateway's next search already uses it.
    this.#apply(settingsKey(name), toJsonString(SettingsVersionSchema, after));
    return { before, after };
  }

  /** Versions newest first, older than `beforeRevision` (0: from the current one). */
  async history(modality: Modality, beforeRevision: bigint, pageSize: number): Promise<SettingsVersion[]> {
    const name = modalityName(modality);
    const start = settingsHistoryKey(name, 0n);
    // "<prefix><name>0" is the first key after every "<prefix><name>/..." ('0' follows '/').
    const end = beforeRevision === 0n ? `${SETTINGS_HISTORY_PREFIX}${name}0` : settingsHistoryKey(name, beforeRevision);
    const found = await this.#etcd(() => this.#client.getAll().inRange({ start, end }).sort("Key", "Descend").limit(pageSize).strings());
    return Object.keys(found)
      .sort()
      .reverse()
      .flatMap((key) => {
        const version = this.#parse(found[key]!);
        return version ? [version] : [];
      });
  }

  #apply(key: string, value: string): void {
    const version = this.#parse(value);
    const modality = version?.settings?.modality;
    if (!version || modality === undefined || key !== settingsKey(modalityName(modality))) {
      this.logger.error({ key }, "ignoring invalid settings in etcd; keeping the last valid ones");
      return;
    }
    const known = this.#current.get(modality);
    if (known && known.revision >= version.revision) return;
    this.#current.set(modality, version);
    if (known) this.logger.info({ modality: modalityName(modality), from: String(known.revision), to: String(version.revision), changedBy: version.changedBy }, "settings changed");
  }

  #parse(value: string): SettingsVersion | undefined {
    try {
      const version = fromJsonString(SettingsVersionSchema, value);
      version.settings = validateModalitySettings(version.settings, STORED_LIMITS);
      return version.revision > 0n ? version : undefined;
    } catch {
      return undefined;
    }
  }

  async #etcd<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw new AppError(ErrorCode.UNAVAILABLE, "the settings store (etcd) is unreachable; nothing was changed", { cause: err });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watcher?.cancel().catch(() => undefined);
    this.#client.close();
  }
}

function revisionChanged(current: bigint | undefined): AppError {
  const now = current === undefined ? "" : ` (now ${current})`;
  return new AppError(ErrorCode.SETTINGS_REVISION_CHANGED, `the settings were changed since the expected revision${now}; read them again`);
}
