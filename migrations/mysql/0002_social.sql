-- Friends, blocks and groups.

-- A friendship is stored once per direction, so "my friends" is one index range.
CREATE TABLE friendships (
    user_id   BIGINT NOT NULL,
    friend_id BIGINT NOT NULL,
    since     BIGINT NOT NULL,
    PRIMARY KEY (user_id, friend_id),
    KEY friendships_friend (friend_id),
    CONSTRAINT friendships_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT friendships_friend_fk FOREIGN KEY (friend_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE friend_requests (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    from_id    BIGINT       NOT NULL,
    to_id      BIGINT       NOT NULL,
    note       VARCHAR(256) NOT NULL,
    created_at BIGINT       NOT NULL,
    UNIQUE KEY friend_requests_pair (from_id, to_id),
    KEY friend_requests_to (to_id),
    CONSTRAINT friend_requests_from_fk FOREIGN KEY (from_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT friend_requests_to_fk FOREIGN KEY (to_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE blocks (
    blocker_id BIGINT NOT NULL,
    blocked_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id),
    KEY blocks_blocked (blocked_id),
    CONSTRAINT blocks_blocker_fk FOREIGN KEY (blocker_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT blocks_blocked_fk FOREIGN KEY (blocked_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- name_key: the name lower-cased, for case-insensitive search.
CREATE TABLE chat_groups (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name         VARCHAR(64)  NOT NULL,
    name_key     VARCHAR(64)  NOT NULL,
    description  VARCHAR(256) NOT NULL,
    owner_id     BIGINT       NOT NULL,
    member_count BIGINT       NOT NULL,
    created_at   BIGINT       NOT NULL,
    KEY chat_groups_owner (owner_id),
    CONSTRAINT chat_groups_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE group_members (
    group_id  BIGINT      NOT NULL,
    user_id   BIGINT      NOT NULL,
    role      VARCHAR(16) NOT NULL,
    joined_at BIGINT      NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY group_members_user (user_id),
    CONSTRAINT group_members_group_fk FOREIGN KEY (group_id) REFERENCES chat_groups (id) ON DELETE CASCADE,
    CONSTRAINT group_members_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE group_join_requests (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id   BIGINT       NOT NULL,
    user_id    BIGINT       NOT NULL,
    note       VARCHAR(256) NOT NULL,
    created_at BIGINT       NOT NULL,
    UNIQUE KEY group_join_requests_pair (group_id, user_id),
    KEY group_join_requests_user (user_id),
    CONSTRAINT group_join_requests_group_fk FOREIGN KEY (group_id) REFERENCES chat_groups (id) ON DELETE CASCADE,
    CONSTRAINT group_join_requests_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
