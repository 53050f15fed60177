// Typings of what `lemon.Admin` (the operations API) takes and returns: plain JSON made by the
// core (crates/core/src/admin/). Referenced from the generated class typings.

/** `new Admin(options)`: the session options exactly as `new Cluster()` reads them, plus who writes. */
export interface AdminOptions {
  /** `host:port,host:port[/chroot]`. */
  zk: string
  /** Registry root. Default `/lemonhjuice`. */
  root?: string
  /** Digest credentials `user:password`; then history and audit name `digest:user`. */
  auth?: string
  /** ACL of the nodes the admin creates (rules, history, audit): `open`, `creator`, `private`. */
  acl?: 'open' | 'creator' | 'private'
  sessionTimeoutMs?: number
  connectTimeoutMs?: number
  /** TLS to ZooKeeper's `secureClientPort`, as the Cluster's `zkTls` (PEM text or file paths). */
  zkTls?: { ca: string; cert?: string; key?: string }
  /** Who history and audit name without `auth`, e.g. `user@host` (the CLI passes it). */
  identity?: string
  /** Versions kept per service (2–10000). Default 100. */
  historyLimit?: number
  /** Audit entries kept (10–100000). Default 1000. */
  auditLimit?: number
}

/** One service of `admin.services()`. */
export interface ServiceSummary {
  /** `app/group`. */
  service: string
  app: string
  group: string
  /** Endpoints (`host:port`). */
  endpoints: number
  /** Provider nodes (pm2 workers of one endpoint count separately). */
  instances: number
  consumers: number
  /** Consumers that publish a health report. */
  reporting: number
  /** Endpoints some consumer reports ejected. */
  ejected: number
  /** Provider nodes nobody can use. */
  rejected: number
  /** The rules in force, one phrase each (`gray 10%`, `weight 10.0.0.1:80=20`, `degraded`, ...). */
  rules: string[]
  /** Why the consumers refuse the rules in ZooKeeper, when they do. */
  refusedRules: string | null
}

/** One endpoint of `admin.providers()`. */
export interface Endpoint {
  address: string
  host: string
  port: number
  version: string
  gray: boolean
  /** The node's weight. */
  weight: number
  /** The configurator's weight override, if any. */
  override: number | null
  /** The weight a consumer uses now (override and the consumers' warmup applied). */
  effectiveWeight: number
  warming: boolean
  disabled: boolean
  /** Declared methods; empty: every method. */
  methods: string[]
  /** Start time (ms since the epoch) from the node, if known. */
  startedAt: number | null
  /** Provider nodes (pm2 workers) of this endpoint. */
  instances: number
  pids: number[]
  nodes: string[]
}

export interface ProvidersReport {
  service: string
  endpoints: Endpoint[]
  /** Nodes nobody can use, with the reason. */
  rejected: { name: string; reason: string }[]
}

/** One consumer process of `admin.consumers()`. */
export interface ConsumerProcess {
  /** Its node under `consumers/`. */
  name: string
  host: string
  pid: number | null
  version: string | null
  loadBalance: string | null
  /** Fault-tolerance mode (`failover`, ...). */
  mode: string | null
  lemonVersion: string | null
  warmupMs: number | null
  startedAt: number | null
  reporting: boolean
  /** Health reports written so far (the node's data version). */
  reports: number
  /** Size of the node's data. */
  bytes: number
}

/** What one consumer reports about one provider. */
export interface ProviderView {
  address: string
  breaker: 'closed' | 'open' | 'half-open'
  /** While ejected: until when (ms since the epoch, rounded up to the second). */
  ejectedUntil: number | null
  inflight: number
  /** ms, two significant digits. */
  p99: number
  /** % of the last 10 s. */
  errorRate: number
  /** Calls in the last 10 s. */
  calls: number
}

export interface AppliedRule {
  /** Hash of the document the consumer applied (`''`: none). */
  hash: string
  /** The history version with that document, when known. */
  version: number | null
}

export interface HealthReport {
  service: string
  consumers: {
    name: string
    host: string
    pid: number | null
    /** When the report was written (ms since the epoch). */
    at: number
    /** Calls per second over the last 10 s. */
    calls: number
    /** Retries the retry budget still allows. */
    budget: number
    rules: { routers: AppliedRule; configurators: AppliedRule }
    providers: ProviderView[]
  }[]
  endpoints: { address: string; ejected: boolean; ejectedBy: string[] }[]
  /** Consumers that do not report (older versions, `healthReportMs: 0`). */
  silent: number
}

/** `admin.overview()`: what `providers()`, `consumers()`, `health()`, `rules()` and `history()` answer, from one read. */
export interface ServiceOverview {
  providers: ProvidersReport
  consumers: ConsumerProcess[]
  health: HealthReport
  rules: RulesState
  history: RulesVersion[]
}

/** A service's rules as one document; `null`: no node. */
export interface RulesDocument {
  routers?: { gray?: { percent?: number; hosts?: string[]; keyPercent?: number; force?: boolean } } | null
  configurators?: {
    service?: { loadBalance?: string; cluster?: string; retries?: number; timeoutMs?: number; force?: boolean; fallback?: unknown }
    providers?: Record<string, { weight?: number; disabled?: boolean }>
  } | null
}

export interface RulesState {
  service: string
  version: number
  /** The nodes were changed outside lemon-cluster since the last recorded version. */
  external: boolean
  rules: RulesDocument
  inForce: string[]
  /** Why the consumers refuse what the nodes hold, when they do. */
  refused: { code: string; message: string } | null
}

/** One changed key: `configurators.providers.10.0.0.1:80.weight`. */
export interface KeyChange {
  key: string
  type: 'added' | 'removed' | 'modified'
  old: unknown
  new: unknown
}

export interface RulesVersion {
  version: number
  at: number | null
  who: string
  host?: string | null
  pid?: number | null
  /** `set`, `weight`, `disable`, `enable`, `gray`, `degrade`, `rollback` or `external`. */
  action: string
  message: string
  external: boolean
  /** `false`: an external change not recorded yet (it is with the next change). */
  recorded: boolean
  changes: KeyChange[]
}

/** `admin.configDocuments(under)`: the documents some store saved or runs. */
export interface ConfigDocuments {
  documents: {
    /** The document's znode path (a store's rootPath + name). */
    path: string
    /** Whether the znode exists now. */
    exists: boolean
    /** `tree` when the znode has children; `null` when it does not exist. */
    layout: 'document' | 'tree' | null
    /** The newest recorded history version; `null`: no history. */
    version: number | null
    /** Stores running it now. */
    instances: number
    modifiedAt: number | null
  }[]
  /** The search stopped at its bounds (depth 8, 4096 listings): name a deeper folder. */
  truncated: boolean
}

/** One changed key of a configuration document; secrets masked (`ENC(…)`) unless revealed. */
export interface ConfigKeyChange {
  key: string
  kind: 'added' | 'removed' | 'modified'
  old?: unknown
  new?: unknown
  /** The entry kept only the key: the values were too large to record. */
  valuesOmitted?: true
}

/** One version of a configuration document (docs/configuration.md#history). */
export interface ConfigVersion {
  version: number
  at: number
  who: string
  host: string | null
  pid: number | null
  /** `save` (a store), `create` (a store created the missing tree), `external` (zkCli), or an operator's `set`, `edit`, `rollback`, `copy`, `rotate-key`, `rotate-key-finish`, `gray.promote`. */
  action: string
  message: string
  external: boolean
  recorded: boolean
  /** Whether the entry holds the whole document (so the version can be rolled back to and diffed). */
  content: boolean
  /** `null` for an external version (unknown). */
  changes: ConfigKeyChange[] | null
}

/** Options of every `admin.config*()` call. */
export interface ConfigCallOptions {
  /** The document's layout, as its stores' `layout` option. Default `document`. */
  layout?: 'document' | 'tree'
  /** Show secrets decrypted with the key (audited as `config.reveal`: who, which keys). */
  reveal?: boolean
  /** The environment variable holding the secret key (for `reveal`, sealing, rotation). Default `LEMON_CONFIG_KEY`. */
  keyEnv?: string
  /** Recorded in the history entry and the audit log. */
  message?: string
  /** Refuse (`ERR_CONFIG_CONFLICT`) unless the document is at this version. */
  ifVersion?: number
  /** Write despite a check (a rollback to secrets the key does not open; `rotate-key --finish` while instances hold another key). */
  force?: boolean
  /** The console user on whose behalf (recorded as `{by} (via {identity})`). */
  by?: string
}

/** `admin.configGet()`. */
export interface ConfigDocument {
  path: string
  layout: 'document' | 'tree'
  exists: boolean
  /** The history version now (an unrecorded write from outside counts as one). */
  version: number
  /** Written outside lemon-cluster and not recorded yet. */
  external: boolean
  /** Why the znode's content is unusable (not a JSON object), else `null`. */
  invalid: string | null
  /** The whole document (without `key`). */
  document?: Record<string, unknown>
  /** With `key`. */
  key?: string
  value?: unknown
}

/** What `admin.configDiff()` compares: two versions (default the current one), or a version and a document. */
export interface ConfigDiffSpec {
  from?: number
  to?: number
  /** A document (e.g. a file's) to compare version `from` with. */
  document?: Record<string, unknown>
}

export interface ConfigDiff {
  path: string
  from: number
  /** A version, or `'file'`. */
  to: number | 'file'
  changes: ConfigKeyChange[]
}

/** `admin.configCompare()`: only the differing keys. */
export interface ConfigComparison {
  path: string
  other: string
  version: number
  otherVersion: number
  differences: Array<{ key: string; kind: 'modified' | 'onlyHere' | 'onlyThere'; value: unknown; otherValue: unknown }>
}

/** A write of a configuration document. */
export interface ConfigWriteResult {
  path: string
  /** The version written (the current one when nothing changed). */
  version: number
  unchanged: boolean
  changes: ConfigKeyChange[]
  /** Key rotation: the number of secrets resealed and the new key's id. */
  secrets?: number
  keyId?: string
}

/** `admin.configRotateKey()`: the variable holding the new key; `finish` drops the old key's parts. */
export interface KeyRotation {
  newKeyEnv: string
  finish?: boolean
}

/** A store running a configuration document. */
export interface ConfigInstance {
  /** `host:pid` */
  instance: string
  host: string
  pid: number
  /** The history version it applied; `null` when that version is not recorded (written outside). */
  version: number | null
  zxid: number
  source: 'zookeeper' | 'snapshot' | 'empty'
  /** The id of the secret key the store holds (`null`: none). */
  keyId: string | null
  /** The store's `labels` option. */
  labels: string[]
  /** The zxid of the gray release it runs (`GrayStatus.zxid`), `null` on the main version. */
  grayZxid: number | null
}

/** Whom a gray release is for: exactly one of these. `host:pid` as `ConfigInstance.instance`. */
export type GraySelector = { hosts: string[] } | { instances: string[] } | { labels: string[] } | { percent: number }

/** `-m` and `--layout tree` of the gray operations; `by` as in `WriteOptions`. */
export interface GrayOptions {
  message?: string
  layout?: 'document' | 'tree'
  by?: string
}

/** `configGrayStart`: the selector and either `set` (`{ 'db:host': 'new' }`, keys joined by `:`) or a whole `document`. */
export interface GrayStartOptions extends GrayOptions {
  selector: GraySelector
  set?: Record<string, unknown>
  document?: Record<string, unknown>
  /** Replace a release in progress instead of refusing with `ERR_CONFIG_GRAY_EXISTS`. */
  force?: boolean
}

export interface GrayStarted {
  path: string
  selector: GraySelector
  /** From the main version to what the selected instances run. */
  changes: ConfigKeyChange[]
  /** The main version the release was made on (`version`: its history version, `null` if not recorded). */
  base: { version: number | null; zxid: number }
  /** Whether it replaced a release in progress (`force`). */
  replaced: boolean
}

export interface GrayInstance extends ConfigInstance {
  /** The selector picks it. */
  selected: boolean
  /** It runs the release now. */
  gray: boolean
}

export interface GrayStatus {
  path: string
  /** Whether a release is in progress; the other fields but `instances` only when it is. */
  active: boolean
  selector?: GraySelector
  /** From the main version now to what the selected instances run. */
  changes?: ConfigKeyChange[]
  base?: { version: number | null; zxid: number }
  at?: number
  who?: string
  message?: string
  /** The release's zxid (what `ConfigInstance.grayZxid` of its instances says). */
  zxid?: number
  instances: GrayInstance[]
}

export interface GrayPromoted {
  path: string
  /** The history version written; `null` when the main version held the changes already. */
  version: number | null
  selector: GraySelector
  /** What the instances not in the release see change. */
  changes: ConfigKeyChange[]
}

export interface GrayAborted {
  path: string
  /** `null` when the release's znode could not be read (it is deleted all the same). */
  selector: GraySelector | null
  /** What the instances in the release go back by. */
  changes: ConfigKeyChange[]
}

export interface RulesDiff {
  service: string
  from: number
  to: number
  changes: KeyChange[]
}

/** `-m`, `--force`, `--if-version`. */
export interface WriteOptions {
  message?: string
  /** Write even when the change leaves a method or the service without an eligible provider. */
  force?: boolean
  /** Refuse with `ERR_RULE_CONFLICT` unless the rules are at this version. */
  ifVersion?: number
  /** The console user on whose behalf the change is made: recorded as `{by} (via {identity})`. */
  by?: string
}

export type RulesChange =
  | { op: 'weight'; address: string; weight: number }
  | { op: 'disable' | 'enable'; address: string }
  | { op: 'gray'; percent: number }
  | { op: 'gray'; hosts: string[] }
  | { op: 'gray'; off: true }
  | { op: 'degrade'; on: boolean; fallback?: unknown }

export interface Lane {
  providers: { address: string; share: number }[]
  /** Why the lane has no provider. */
  empty?: string
}

export interface Simulation {
  degraded: boolean
  grayPercent: number
  /** Consumer processes (`host:pid`) whose every request becomes gray. */
  grayConsumers: string[]
  disabled: string[]
  /** Endpoints the consumers report ejected now (their breakers keep them out until they recover). */
  ejected: string[]
  /** Each endpoint's share of a non-gray-host consumer's calls. */
  endpoints: { address: string; share: number }[]
  methods: { version: string | null; method: string; normal: Lane; gray: Lane }[]
  /** What the change leaves without an eligible provider (refused unless forced). */
  orphaned?: string[]
  changes?: KeyChange[]
}

export interface WriteResult {
  service: string
  version: number
  unchanged: boolean
  /** An external change was found and recorded as its own version first. */
  recordedExternal?: boolean
  changes: KeyChange[]
  simulation: Simulation
}

export interface AuditEntry {
  at: number
  who: string
  host: string
  pid: number
  /** `rules.set`, `rules.weight`, ... */
  action: string
  target: string
  version: number
  message: string
  changes: number
}

/** The admin console's records in `{root}/.lemon/console/{kind}/{name}`. */
export type ConsoleKind = 'accounts' | 'tokens' | 'sessions' | 'logins'

export interface ConsoleRecord {
  name: string
  /** The node's data version (compare-and-set with `ifVersion`). */
  version: number
  data: Record<string, unknown>
}

/** `console.{action}` on `target` in the audit log. */
export interface AuditNote {
  action: string
  target?: string
  message?: string
  /** The console user on whose behalf it is done. */
  by?: string
}

export interface RecordWriteOptions {
  /** Replace (or delete) only at this version; without it, `consolePut` creates. */
  ifVersion?: number
  /** Written in the same `multi` as the record. */
  audit?: AuditNote
}

/** What `admin.preview()` dry-runs: an edit, a whole document, or a rollback. */
export type Proposal = { change: RulesChange } | { document: RulesDocument } | { rollback: number }

export interface Preview extends Simulation {
  changes: KeyChange[]
  orphaned: string[]
  /** The document the write would make. */
  document: RulesDocument
  /** The version it is based on: pass it as `ifVersion`. */
  version: number
}
