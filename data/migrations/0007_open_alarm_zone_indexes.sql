-- Version 7: a restore names its zone, so the open-alarm lookup goes down to the zone. An account
-- that keeps hundreds of alarms open (a panel no operator is looking after) no longer makes every
-- restore of that account read all of them.
DROP INDEX events_open_by_account;
DROP INDEX events_open_unregistered;
CREATE INDEX events_open_by_account ON events (alarm_account_id, code, zone) WHERE status <> 'resolved';
CREATE INDEX events_open_unregistered ON events (account, code, zone) WHERE status <> 'resolved' AND alarm_account_id IS NULL;
