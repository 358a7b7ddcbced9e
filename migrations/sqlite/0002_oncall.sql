-- On-call overrides: `!incident oncall override <person> <from> <to>`.
CREATE TABLE oncall_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rotation    TEXT NOT NULL,
    person      TEXT NOT NULL,
    starts_at   TIMESTAMP NOT NULL,
    ends_at     TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX oncall_overrides_span ON oncall_overrides (rotation, ends_at);

-- Recurring timers (rotation handoffs, announcements) exist once per name while pending, even
-- with two Flare processes seeding them at start.
CREATE UNIQUE INDEX timers_recurring ON timers (kind, payload)
    WHERE incident_id IS NULL AND state = 'pending';
