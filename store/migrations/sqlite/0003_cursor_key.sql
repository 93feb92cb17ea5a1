-- The key list cursors are signed with (HMAC-SHA256): made once, here, from SQLite's
-- randomness (seeded by the operating system), so every keycred on this database
-- and every restart sign and accept the same cursors. Cursors issued before this
-- migration carried no signature and are refused from now on.
CREATE TABLE cursor_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
);
INSERT INTO cursor_keys (id, key) VALUES (1, randomblob(32));
