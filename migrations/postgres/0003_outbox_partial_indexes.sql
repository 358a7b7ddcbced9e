-- The outbox indexes hold only the rows their queries look for: pending rows (what the
-- delivery workers read) and rows with a remote id (mirrored copies found by their id on the
-- platform). A mirrored message's delivery then touches two fewer index entries: none in
-- `deliveries_remote` while it is pending, and in `deliveries_pending` it is removed when sent
-- rather than moved to 'sent'.
DROP INDEX deliveries_pending;
CREATE INDEX deliveries_pending ON deliveries (platform, id) WHERE status = 'pending';
DROP INDEX deliveries_remote;
CREATE INDEX deliveries_remote ON deliveries (platform, remote_id) WHERE remote_id IS NOT NULL;
