-- Bulk replies (help, show, list, sla, oncall) go after what matters in each channel's
-- queue; `requester` is who asked, so a platform may answer them privately (IRC NOTICE).
ALTER TABLE deliveries ADD COLUMN bulk BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deliveries ADD COLUMN requester TEXT;
