-- The schema release 0.1.0 of alveare-migrate wrote (core/store.py, proxy/keys.py, policies/runner.py,
-- evaluator/judge.py before Alembic), used to build a store the way that release did.
CREATE TABLE IF NOT EXISTS pairs (
    pair_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    key_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    target_model TEXT NOT NULL,
    task TEXT NOT NULL,
    request TEXT NOT NULL,
    served_side TEXT NOT NULL,
    percent REAL NOT NULL,
    failover INTEGER NOT NULL,
    incumbent TEXT,
    candidate TEXT,
    meta TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'live'
);
CREATE INDEX IF NOT EXISTS pairs_ts ON pairs (ts);
CREATE TABLE IF NOT EXISTS rollout (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    percent REAL NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,
    evidence TEXT
);
CREATE TABLE IF NOT EXISTS proxy_status (
    instance TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    rpm INTEGER NOT NULL,
    tpm INTEGER NOT NULL,
    created REAL NOT NULL,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS store_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_lease (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    owner TEXT NOT NULL,
    action TEXT NOT NULL,
    percent_from REAL NOT NULL,
    percent_to REAL NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT
);
CREATE TABLE IF NOT EXISTS judge_verdicts (
    pair_id TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version INTEGER NOT NULL,
    incumbent_first TEXT NOT NULL,
    candidate_first TEXT NOT NULL,
    score REAL NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (pair_id, model, prompt_version)
);
