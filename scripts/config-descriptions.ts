// What each environment variable means, for the configuration reference in docs/operations.md
// (`npm run docs:config` writes it). Which processes read a variable, and its default, come from the code;
// a variable that the code reads and this list does not describe fails the docs test.
export interface VariableDescription {
  meaning: string;
  /** Only for variables read outside a zod schema (edge, process-wide); zod schemas give their own. */
  default?: string;
}

export const variableDescriptions: Record<string, VariableDescription> = {
  // Every service
  DATABASE_URL: { meaning: 'PostgreSQL (`postgres://user:pass@host:5432/db`); each service uses its own schema and migrates it at start under an advisory lock. Unset: embedded PostgreSQL under `TASKMESH_DATA_DIR` (one-process mode)' },
  TASKMESH_DATA_DIR: { meaning: 'embedded database files and `.eml` mail files when those are in use; `/tmp/taskmesh` in the images' },
  GRPC_HOST: { meaning: 'address the gRPC server binds; `0.0.0.0` in the images' },
  NATS_URL: { meaning: 'NATS with JetStream (`nats://host:4222`, comma-separated for a cluster). Unset: in-process events (one-process mode only)' },
  EVENTS_STREAM: { meaning: 'JetStream stream of the domain events; dead letters go to `<name>_DLQ`' },
  EVENTS_SUBJECT_PREFIX: { meaning: 'first subject token: events on `<prefix>.>`, dead letters on `<prefix>_dlq.>`' },
  EVENTS_STREAM_REPLICAS: { meaning: 'replicas of the event streams (3 on a NATS cluster)' },
  EVENTS_STREAM_MAX_BYTES: { meaning: 'size cap of the event stream in bytes (reserved on the NATS volume); the dead-letter stream gets a quarter' },
  IDENTITY_ADDR: { meaning: "identity's gRPC `host:port` (JWKS, user profiles)" },
  ORG_ADDR: { meaning: "org's gRPC `host:port` (GetMembership for the org-context chain)" },
  BOARD_ADDR: { meaning: "board's gRPC `host:port` (CheckBoardList)" },
  TASK_ADDR: { meaning: "task's gRPC `host:port`" },
  AUDIT_ADDR: { meaning: "audit's gRPC `host:port`" },
  WEBHOOK_ADDR: { meaning: "webhook's gRPC `host:port` (the edge routes WebhookService to it)" },
  JWT_ISSUER: { meaning: '`iss` of access tokens (issued by identity, checked by the others)' },
  JWT_AUDIENCE: { meaning: '`aud` of access tokens' },
  MEMBERSHIP_CACHE_TTL_MS: { meaning: 'how long a membership answer of org is reused (at most 30 s; membership events evict sooner)' },
  UPSTREAM_TIMEOUT_MS: { meaning: 'deadline of each call to another service' },
  APP_BASE_URL: { meaning: 'public base URL of the web app, for links in mails' },
  SMTP_URL: { meaning: 'mail delivery (`smtp://` or `smtps://user:pass@host:port`). Unset: `.eml` files under `$TASKMESH_DATA_DIR/mail`' },
  // Ports
  IDENTITY_PORT: { meaning: "identity's gRPC port (50051 in the images)" },
  ORG_PORT: { meaning: "org's gRPC port (50051 in the images)" },
  BOARD_PORT: { meaning: "board's gRPC port (50051 in the images)" },
  TASK_PORT: { meaning: "task's gRPC port (50051 in the images)" },
  AUDIT_PORT: { meaning: "audit's gRPC port (50051 in the images)" },
  NOTIFY_PORT: { meaning: "notify's gRPC port (health only; 50051 in the images)" },
  WEBHOOK_PORT: { meaning: "webhook's gRPC port (50051 in the images)" },
  WEBHOOK_ALLOWED_HOSTS: { meaning: 'comma-separated `host` or `host:port` (IPv6 as `[::1]:8080`) that webhook endpoints may use although they resolve to loopback, private or link-local addresses, and over plain http; empty: only public https endpoints' },
  WEBHOOK_RETRY_SCHEDULE: { meaning: 'seconds to wait after failed delivery attempt 1, 2, … (comma-separated, fractions allowed); when they run out the delivery has failed' },
  WEBHOOK_DISABLE_AFTER_SECONDS: { meaning: "an endpoint whose deliveries have failed for this long (seconds, since its last success) is disabled and its organization's owners are mailed" },
  WEBHOOK_TIMEOUT_MS: { meaning: 'deadline of one webhook delivery attempt (connect, send, answer)' },
  WEBHOOK_POLL_MS: { meaning: 'how often the webhook delivery worker looks for due retries (new deliveries wake it at once)' },
  METRICS_PORT: { meaning: 'port of the Prometheus scrape endpoint `/metrics` (9464 in the images)' },
  // identity
  ACCESS_TOKEN_TTL_SECONDS: { meaning: 'EdDSA access-token lifetime' },
  REFRESH_TOKEN_TTL_DAYS: { meaning: 'refresh-token lifetime (renewed on every rotation)' },
  RESET_TOKEN_TTL_MINUTES: { meaning: 'password-reset token lifetime' },
  LOGIN_FREE_FAILURES_PER_PAIR: { meaning: 'failed log-ins of one (account, address) pair, or one known device, before delays start' },
  LOGIN_DELAY_BASE_SECONDS: { meaning: "first delay of a pair past its free failures; it doubles with each further failure" },
  LOGIN_MAX_DELAY_SECONDS: { meaning: 'longest delay of one (account, address) pair' },
  LOGIN_MAX_FAILURES_PER_ACCOUNT: { meaning: 'failures of one account from anywhere (known devices aside) before unknown clients of it are slowed' },
  LOGIN_ACCOUNT_MAX_DELAY_SECONDS: { meaning: 'longest delay the per-account ceiling imposes on unknown clients (never a lockout)' },
  LOGIN_MAX_FAILURES_PER_ADDRESS: { meaning: 'failed log-ins (not attempts) from one client address within the window before it is refused' },
  DEVICE_TOKEN_TTL_DAYS: { meaning: 'lifetime of the device token sign-up and log-in return (it lets the owner past the per-account ceiling)' },
  LOGIN_THROTTLE_WINDOW_SECONDS: { meaning: 'window of the log-in throttles (counters in PostgreSQL, shared by all replicas)' },
  SIGNUP_MAX_PER_ADDRESS: { meaning: 'sign-ups per client address within the throttle window' },
  RESET_MAX_PER_EMAIL: { meaning: 'password-reset requests per e-mail address within the throttle window' },
  RESET_MAX_PER_ADDRESS: { meaning: 'password-reset requests per client address within the throttle window' },
  ARGON2_MEMORY_KIB: { meaning: 'argon2id memory cost per hash (OWASP baseline 19 MiB)' },
  ARGON2_ITERATIONS: { meaning: 'argon2id iterations' },
  ARGON2_PARALLELISM: { meaning: 'argon2id lanes' },
  SIGNING_KEY_RELOAD_SECONDS: { meaning: 'how often the signing keys are reloaded from the database (a rotation by another replica is picked up within it)' },
  TASKMESH_KEK_PREVIOUS: { meaning: '`npm run identity:rotate-kek` only: the key-encryption key the rows are sealed under now' },
  TASKMESH_KEK: { meaning: 'key-encryption key: base64 of 32 random bytes that encrypts the identity signing keys and the webhook signing secrets at rest (a Secret; `openssl rand -base64 32`)' },
  // org
  INVITATION_TTL_SECONDS: { meaning: 'invitation lifetime' },
  ORG_RETENTION_DAYS: { meaning: 'how long a deleted organization is kept before it is purged' },
  ORG_PURGE_INTERVAL_SECONDS: { meaning: 'how often the purge of deleted organizations runs' },
  // task
  BOARD_CACHE_TTL_MS: { meaning: "how long the board service's positive answers are reused (board events evict sooner; 0: off)" },
  // audit
  AUDIT_RETENTION_DAYS: { meaning: 'how long audit events are kept' },
  AUDIT_PURGE_INTERVAL_SECONDS: { meaning: 'how often the purge of old audit events runs' },
  // notify
  MAIL_FROM: { meaning: 'sender of notification mails' },
  DIGEST_HOUR_UTC: { meaning: 'hour (UTC) of the daily digest of tasks due in the next 24 hours' },
  // Database, shutdown, streams (this round)
  DB_ACQUIRE_TIMEOUT_MS: { meaning: 'longest wait for a pooled database connection before the call fails (UNAVAILABLE)' },
  DB_STATEMENT_TIMEOUT_MS: { meaning: "the app role's `statement_timeout`: a statement running longer is cancelled (DEADLINE_EXCEEDED)" },
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: { meaning: "the app role's `idle_in_transaction_session_timeout`: a transaction left idle this long is ended by PostgreSQL" },
  DB_HEALTH_INTERVAL_MS: { meaning: 'how often `select 1` checks the database; health says NOT_SERVING while it fails' },
  SHUTDOWN_GRACE_SECONDS: { meaning: 'how long SIGTERM waits for in-flight calls to finish before closing' },
  WATCH_HEARTBEAT_SECONDS: { meaning: 'interval of the heartbeat on WatchBoard streams' },
  // edge (services/edge, read by edge-config.ts)
  EDGE_PORT: { meaning: 'REST/JSON port of the TypeScript edge', default: '8080' },
  EDGE_HOST: { meaning: 'address the edge binds', default: '0.0.0.0' },
  EDGE_DESCRIPTOR: { meaning: 'FileDescriptorSet with the services and their HTTP bindings', default: 'gen/descriptor.binpb' },
  EDGE_BODY_LIMIT_BYTES: { meaning: 'largest request body', default: '1048576' },
  EDGE_DEADLINE_MS: { meaning: 'deadline of each upstream call', default: '15000' },
  EDGE_CORS_ORIGINS: { meaning: 'comma-separated origins allowed by CORS; unset: no CORS headers', default: 'unset' },
  EDGE_ACCESS_LOG: { meaning: '`off` silences the access log', default: 'on' },
  EDGE_HEADERS_TIMEOUT_MS: { meaning: 'longest time a client may take to send the request headers (408 after)', default: '10000' },
  EDGE_REQUEST_TIMEOUT_MS: { meaning: 'longest time a client may take to send a whole request (408 after)', default: '30000' },
  EDGE_KEEP_ALIVE_TIMEOUT_MS: { meaning: 'how long an idle keep-alive connection is kept open', default: '5000' },
  EDGE_MAX_HEADERS_COUNT: { meaning: 'most request headers read (more are ignored)', default: '100' },
  EDGE_MAX_HEADER_SIZE_BYTES: { meaning: 'largest total size of the request headers (431 past it)', default: '16384' },
  // process-wide, read outside the schemas
  LOG_LEVEL: { meaning: 'pino level: trace, debug, info, warn, error, fatal', default: 'info' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { meaning: 'OTLP/HTTP endpoint for traces (e.g. `http://otel-collector:4318`); unset: no export. The standard `OTEL_EXPORTER_OTLP_*` and `OTEL_RESOURCE_ATTRIBUTES` variables apply too', default: 'unset' },
  OTEL_TRACES_SAMPLER: { meaning: "OpenTelemetry's standard sampler setting (`OTEL_TRACES_SAMPLER_ARG` with it)", default: 'parent-based always-on' },
  OTEL_PROPAGATORS: { meaning: "OpenTelemetry's standard propagator list", default: 'tracecontext,baggage' },
  OTEL_SDK_DISABLED: { meaning: '`true` turns the OpenTelemetry SDK off', default: 'false' },
  TASKMESH_BASE_URL: { meaning: '`npm run seed` and the conformance suite: the edge to talk to', default: 'http://127.0.0.1:8080' },
};
