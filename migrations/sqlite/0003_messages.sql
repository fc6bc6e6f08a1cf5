-- Conversations and their entries.

-- conv_key: 'd:<low user id>:<high user id>' for a direct conversation,
-- 'g:<group id>' for a group. last_seq is the seq of the newest entry.
CREATE TABLE conversations (
    conv_key TEXT    PRIMARY KEY,
    user_lo  INTEGER,
    user_hi  INTEGER,
    group_id INTEGER,
    last_seq INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL
);
CREATE INDEX conversations_lo ON conversations (user_lo);
CREATE INDEX conversations_hi ON conversations (user_hi);
CREATE INDEX conversations_group ON conversations (group_id);

-- One row per entry, a group message included (never one per member). No foreign
-- key to users: entries outlive their sender's account, under the old name.
CREATE TABLE messages (
    msg_id        INTEGER PRIMARY KEY,
    conv_key      TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    sender_id     INTEGER NOT NULL,
    sender_name   TEXT    NOT NULL,
    peer_id       INTEGER,
    peer_name     TEXT,
    group_id      INTEGER,
    kind          TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    ts            INTEGER NOT NULL,
    client_msg_id TEXT,
    recalls       INTEGER,
    recalled      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (conv_key, seq)
);
-- Only sends that carry a client_msg_id are deduplicated, so only they are indexed.
CREATE UNIQUE INDEX messages_client_id ON messages (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL;

CREATE TABLE read_markers (
    user_id  INTEGER NOT NULL,
    conv_key TEXT    NOT NULL,
    read_seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, conv_key)
);

-- Ids handed out in blocks by the writer, inside its transaction.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('msg_id', 0);
