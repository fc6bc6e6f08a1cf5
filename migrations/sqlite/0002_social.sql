-- Friends, blocks and groups.

-- A friendship is stored once per direction, so "my friends" is one index range.
CREATE TABLE friendships (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friend_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    since     INTEGER NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);

CREATE TABLE friend_requests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    from_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (from_id, to_id)
);
CREATE INDEX friend_requests_to ON friend_requests (to_id);

CREATE TABLE blocks (
    blocker_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

-- name_key: the name lower-cased, for case-insensitive search.
CREATE TABLE chat_groups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    name_key     TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    owner_id     INTEGER NOT NULL REFERENCES users (id),
    member_count INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id  INTEGER NOT NULL REFERENCES chat_groups (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT    NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE group_join_requests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id   INTEGER NOT NULL REFERENCES chat_groups (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (group_id, user_id)
);
CREATE INDEX group_join_requests_user ON group_join_requests (user_id);
