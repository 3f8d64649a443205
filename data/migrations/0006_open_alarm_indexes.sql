-- Version 6: find an account's open alarms without scanning the history (a restore, a late
-- account reporting again). Partial indexes: only unresolved events are in them.
CREATE INDEX events_open_by_account ON events (alarm_account_id, code) WHERE status <> 'resolved';
CREATE INDEX events_open_unregistered ON events (account, code) WHERE status <> 'resolved' AND alarm_account_id IS NULL;
