-- Voices of the local engine (eSpeak NG), so a server with no MiniMax account speaks at once.
INSERT INTO voices (friendly_name, provider, engine_voice_id, language, gender, description, created_at) VALUES
    ('local-american-male',   'local', 'en-us+m3',      'en-US', 'male',   'American English, male (eSpeak NG, offline).',   '2026-11-27T00:00:00+00:00'),
    ('local-american-female', 'local', 'en-us+f3',      'en-US', 'female', 'American English, female (eSpeak NG, offline).', '2026-11-27T00:00:00+00:00'),
    ('local-british-male',    'local', 'en-gb-x-rp+m3', 'en-GB', 'male',   'British English (RP), male (eSpeak NG, offline).',   '2026-11-27T00:00:00+00:00'),
    ('local-british-female',  'local', 'en-gb-x-rp+f3', 'en-GB', 'female', 'British English (RP), female (eSpeak NG, offline).', '2026-11-27T00:00:00+00:00'),
    ('local-african-male',    'local', 'en-029+m3',     'en-NG', 'male',   'English for West African listeners, male: eSpeak NG has no African English, this uses its closest (Caribbean) accent. Offline.',   '2026-11-27T00:00:00+00:00'),
    ('local-african-female',  'local', 'en-029+f3',     'en-NG', 'female', 'English for West African listeners, female: eSpeak NG has no African English, this uses its closest (Caribbean) accent. Offline.', '2026-11-27T00:00:00+00:00');
