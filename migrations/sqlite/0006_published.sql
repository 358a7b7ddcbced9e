-- Whether an incident is on the public status page (`[status_page] publish` at open,
-- `!inc publish` / `!inc unpublish` after).
ALTER TABLE incidents ADD COLUMN published BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX incidents_published ON incidents (published, id);
