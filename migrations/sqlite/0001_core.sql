-- Flare core schema (SQLite). Every instant is a UTC timestamp written by sqlx from
-- chrono::DateTime<Utc>; never local-time text.

CREATE TABLE incidents (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    title              TEXT NOT NULL,
    severity           TEXT NOT NULL,
    status             TEXT NOT NULL,
    commander          TEXT,
    impacted_apps      TEXT NOT NULL DEFAULT '',
    business_impact    TEXT,
    opened_by          TEXT NOT NULL,
    opened_platform    TEXT NOT NULL,
    opened_channel     TEXT NOT NULL,
    started_at         TIMESTAMP NOT NULL,
    sla_class          TEXT NOT NULL,
    sla_window_secs    BIGINT NOT NULL,
    ack_deadline       TIMESTAMP NOT NULL,
    acknowledged_at    TIMESTAMP,
    acknowledged_by    TEXT,
    acknowledged_where TEXT,
    resolved_at        TIMESTAMP,
    resolution         TEXT,
    last_update_at     TIMESTAMP NOT NULL,
    version            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX incidents_open ON incidents (status);

CREATE TABLE timeline (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    at          TIMESTAMP NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    platform    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

-- Every inbound message Flare handled: dedupe key and the source side of the message map.
CREATE TABLE messages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    platform       TEXT NOT NULL,
    channel        TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    thread         TEXT,
    incident_id    BIGINT REFERENCES incidents (id),
    author_id      TEXT NOT NULL,
    author_display TEXT NOT NULL,
    text           TEXT NOT NULL,
    sent_at        TIMESTAMP NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    UNIQUE (platform, channel, message_id)
);

-- The thread of each incident on each incident channel.
CREATE TABLE threads (
    incident_id      BIGINT NOT NULL REFERENCES incidents (id),
    platform         TEXT NOT NULL,
    channel          TEXT NOT NULL,
    root_delivery_id BIGINT,
    thread_ref       TEXT,
    PRIMARY KEY (incident_id, platform, channel)
);
CREATE INDEX threads_ref ON threads (platform, thread_ref);

-- The outbox: one row per message per destination.
CREATE TABLE deliveries (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    platform           TEXT NOT NULL,
    channel            TEXT NOT NULL,
    incident_id        BIGINT REFERENCES incidents (id),
    style              TEXT NOT NULL,
    in_thread          BOOLEAN NOT NULL,
    thread_ref         TEXT,
    author             TEXT,
    text               TEXT NOT NULL,
    mentions           TEXT NOT NULL DEFAULT '',
    source_message     BIGINT REFERENCES messages (id),
    edit_of            BIGINT REFERENCES deliveries (id),
    delete_of          BIGINT REFERENCES deliveries (id),
    status             TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMP NOT NULL,
    last_error         TEXT,
    remote_id          TEXT,
    created_at         TIMESTAMP NOT NULL,
    sent_at            TIMESTAMP
);
CREATE INDEX deliveries_pending ON deliveries (platform, status, id);
CREATE INDEX deliveries_incident ON deliveries (incident_id);
CREATE INDEX deliveries_source ON deliveries (source_message);
CREATE INDEX deliveries_remote ON deliveries (platform, remote_id);

-- Durable timers: reminders, breaches, escalation steps, nudges, cron announcements.
CREATE TABLE timers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT REFERENCES incidents (id),
    kind        TEXT NOT NULL,
    due_at      TIMESTAMP NOT NULL,
    payload     TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    fired_at    TIMESTAMP,
    late_ms     BIGINT,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX timers_due ON timers (state, due_at);
CREATE INDEX timers_incident ON timers (incident_id, state);
