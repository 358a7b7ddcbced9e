-- Inbound events the engine could not record (a data error, or retries exhausted), kept with
-- the error so nothing a person wrote vanishes; `flare dead-letters` lists them.
CREATE TABLE dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    platform    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    thread      TEXT,
    message_id  TEXT NOT NULL,
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL,
    error       TEXT NOT NULL,
    failed_at   TIMESTAMPTZ NOT NULL
);
