-- The key list cursors are signed with (HMAC-SHA256): made once, here, from two
-- random UUIDs (gen_random_uuid draws on the server's strong random source; 244
-- random bits in all), so every keycred on this database and every restart sign and
-- accept the same cursors. Cursors issued before this migration carried no
-- signature and are refused from now on.
CREATE TABLE cursor_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BYTEA NOT NULL
);
INSERT INTO cursor_keys (id, key)
VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
