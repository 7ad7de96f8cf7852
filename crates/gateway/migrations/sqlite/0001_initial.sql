-- Users, API keys, voices, usage records and server settings.
-- Durations are integer milliseconds so that sums are exact.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    plan          TEXT    NOT NULL CHECK (plan IN ('free', 'basic', 'pro', 'enterprise')),
    role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    quota_ms      INTEGER NOT NULL CHECK (quota_ms >= 0),
    quota_custom  INTEGER NOT NULL DEFAULT 0,
    used_ms       INTEGER NOT NULL DEFAULT 0 CHECK (used_ms >= 0),
    reserved_ms   INTEGER NOT NULL DEFAULT 0 CHECK (reserved_ms >= 0),
    rpm_limit     INTEGER NULL CHECK (rpm_limit IS NULL OR rpm_limit > 0),
    max_streams   INTEGER NULL CHECK (max_streams IS NULL OR max_streams > 0),
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    name          TEXT    NOT NULL,
    prefix        TEXT    NOT NULL,
    key_hash      BLOB    NOT NULL UNIQUE,
    created_at    TEXT    NOT NULL,
    expires_at    TEXT    NULL,
    last_used_at  TEXT    NULL,
    revoked_at    TEXT    NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE voices (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    friendly_name    TEXT    NOT NULL UNIQUE,
    provider         TEXT    NOT NULL CHECK (provider IN ('minimax', 'local')),
    engine_voice_id  TEXT    NOT NULL,
    language         TEXT    NOT NULL,
    gender           TEXT    NOT NULL CHECK (gender IN ('male', 'female', 'neutral')),
    description      TEXT    NULL,
    display_name     TEXT    NULL,
    accent           TEXT    NULL,
    tone             TEXT    NULL,
    use_cases        TEXT    NOT NULL DEFAULT '[]',
    is_verified      INTEGER NOT NULL DEFAULT 0,
    is_cloned        INTEGER NOT NULL DEFAULT 0,
    is_active        INTEGER NOT NULL DEFAULT 1,
    expires_at       TEXT    NULL,
    last_used_at     TEXT    NULL,
    created_at       TEXT    NOT NULL
);

CREATE TABLE usage_records (
    id             TEXT    PRIMARY KEY NOT NULL,
    user_id        INTEGER NOT NULL REFERENCES users (id),
    key_id         TEXT    NULL,
    voice_id       INTEGER NULL,
    request_id     TEXT    NOT NULL,
    endpoint       TEXT    NOT NULL,
    engine         TEXT    NULL,
    model_used     TEXT    NULL,
    text_length    INTEGER NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'success', 'error', 'quota_exceeded', 'rate_limited', 'cancelled')),
    reserved_ms    INTEGER NOT NULL DEFAULT 0 CHECK (reserved_ms >= 0),
    audio_ms       INTEGER NOT NULL DEFAULT 0 CHECK (audio_ms >= 0),
    error_code     TEXT    NULL,
    error_message  TEXT    NULL,
    lease_expires_at TEXT  NULL,
    created_at     TEXT    NOT NULL,
    settled_at     TEXT    NULL
);
CREATE INDEX usage_records_user_created ON usage_records (user_id, created_at DESC);
CREATE INDEX usage_records_pending_lease ON usage_records (lease_expires_at) WHERE status = 'pending';

-- The original service's voices (MiniMax), all seven.
INSERT INTO voices (friendly_name, provider, engine_voice_id, language, gender, description, created_at) VALUES
    ('nigerian-male',  'minimax', 'moss_audio_141d8c4c-a6f8-11f0-84c1-0ec6fa858d82', 'en-NG', 'male',   'Nigerian English, male',  '2025-01-01T00:00:00+00:00'),
    ('american-male',  'minimax', 'male-qn-qingse',                                 'en-US', 'male',   'American English, male',  '2025-01-01T00:00:00+00:00'),
    ('british-female', 'minimax', 'female-shaonv',                                  'en-GB', 'female', 'British English, female', '2025-01-01T00:00:00+00:00');

INSERT INTO voices (friendly_name, provider, engine_voice_id, language, gender, description, display_name, accent, tone, use_cases, is_verified, created_at) VALUES
    ('marcus', 'minimax', 'moss_audio_a59cd561-ab87-11f0-a74c-2a7a0b4baedc', 'en-US', 'male',   'Confident American male voice',   'Marcus', 'American', 'confident', '["narration","advertising","explainers"]', 1, '2025-01-01T00:00:00+00:00'),
    ('marcy',  'minimax', 'moss_audio_fdad4786-ab84-11f0-a816-023f15327f7a', 'en-US', 'female', 'Warm American female voice',      'Marcy',  'American', 'warm',      '["customer service","e-learning","podcasts"]', 1, '2025-01-01T00:00:00+00:00'),
    ('austyn', 'minimax', 'moss_audio_4e6eb029-ab89-11f0-a74c-2a7a0b4baedc', 'en-NG', 'male',   'Friendly Nigerian male voice',    'Austyn', 'Nigerian', 'friendly',  '["storytelling","radio","announcements"]', 1, '2025-01-01T00:00:00+00:00'),
    ('joslyn', 'minimax', 'moss_audio_141d8c4c-a6f8-11f0-84c1-0ec6fa858d82', 'en-NG', 'female', 'Clear Nigerian female voice',     'Joslyn', 'Nigerian', 'clear',     '["audiobooks","education","announcements"]', 1, '2025-01-01T00:00:00+00:00');
