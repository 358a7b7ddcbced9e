-- On-call overrides: `!incident oncall override <person> <from> <to>`.
CREATE TABLE oncall_overrides (
    id          BIGSERIAL PRIMARY KEY,
    rotation    TEXT NOT NULL,
    person      TEXT NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX oncall_overrides_span ON oncall_overrides (rotation, ends_at);

-- Recurring timers (rotation handoffs, announcements) exist once per name while pending, even
-- with two Flare processes seeding them at start.
CREATE UNIQUE INDEX timers_recurring ON timers (kind, payload)
    WHERE incident_id IS NULL AND state = 'pending';
