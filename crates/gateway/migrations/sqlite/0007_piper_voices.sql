-- Voices may be served by the Piper engine (neural voices on this machine). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt with the same rows and ids (no
-- other table references it).
CREATE TABLE voices_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    friendly_name    TEXT    NOT NULL UNIQUE,
    provider         TEXT    NOT NULL CHECK (provider IN ('minimax', 'local', 'piper')),
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
INSERT INTO voices_new (id, friendly_name, provider, engine_voice_id, language, gender, description,
    display_name, accent, tone, use_cases, is_verified, is_cloned, is_active, expires_at, last_used_at, created_at)
SELECT id, friendly_name, provider, engine_voice_id, language, gender, description,
    display_name, accent, tone, use_cases, is_verified, is_cloned, is_active, expires_at, last_used_at, created_at
FROM voices;
DROP TABLE voices;
ALTER TABLE voices_new RENAME TO voices;
