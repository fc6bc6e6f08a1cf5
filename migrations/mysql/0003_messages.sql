-- Conversations and their entries.

-- conv_key: 'd:<low user id>:<high user id>' for a direct conversation,
-- 'g:<group id>' for a group. last_seq is the seq of the newest entry.
CREATE TABLE conversations (
    conv_key VARCHAR(48) NOT NULL PRIMARY KEY,
    user_lo  BIGINT,
    user_hi  BIGINT,
    group_id BIGINT,
    last_seq BIGINT      NOT NULL,
    last_ts  BIGINT      NOT NULL,
    KEY conversations_lo (user_lo),
    KEY conversations_hi (user_hi),
    KEY conversations_group (group_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per entry, a group message included (never one per member). No foreign
-- key to users: entries outlive their sender's account, under the old name.
CREATE TABLE messages (
    msg_id        BIGINT      NOT NULL PRIMARY KEY,
    conv_key      VARCHAR(48) NOT NULL,
    seq           BIGINT      NOT NULL,
    sender_id     BIGINT      NOT NULL,
    sender_name   VARCHAR(32) NOT NULL,
    peer_id       BIGINT,
    peer_name     VARCHAR(32),
    group_id      BIGINT,
    kind          VARCHAR(8)  NOT NULL,
    body          MEDIUMTEXT  NOT NULL,
    ts            BIGINT      NOT NULL,
    client_msg_id VARCHAR(64),
    recalls       BIGINT,
    recalled      BIGINT      NOT NULL DEFAULT 0,
    UNIQUE KEY messages_conv_seq (conv_key, seq),
    -- NULL client_msg_ids never collide: only sends that carry one are deduplicated.
    UNIQUE KEY messages_client_id (sender_id, client_msg_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE read_markers (
    user_id  BIGINT      NOT NULL,
    conv_key VARCHAR(48) NOT NULL,
    read_seq BIGINT      NOT NULL,
    PRIMARY KEY (user_id, conv_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Ids handed out in blocks by the writer, inside its transaction.
CREATE TABLE counters (
    name  VARCHAR(32) NOT NULL PRIMARY KEY,
    value BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO counters (name, value) VALUES ('msg_id', 0);
