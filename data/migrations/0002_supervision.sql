-- Version 2: what the receiver needs for supervision and duplicate detection.
ALTER TABLE alarm_accounts ADD COLUMN late_since TEXT;  -- set while a "late to test" is open
CREATE INDEX events_sequence ON events (account, sequence);
CREATE INDEX alarm_accounts_supervised ON alarm_accounts (test_interval_s) WHERE test_interval_s IS NOT NULL;
