-- Voices may be served by the Piper engine (neural voices on this machine).
ALTER TABLE voices DROP CONSTRAINT voices_provider_check;
ALTER TABLE voices ADD CONSTRAINT voices_provider_check CHECK (provider IN ('minimax', 'local', 'piper'));
