-- Key rotation: a rotated key names the key that replaced it and keeps working until
-- expires_at (seconds since the Unix epoch, compared as a number; NULL: never expires).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN replaced_by BIGINT REFERENCES api_keys (id);
