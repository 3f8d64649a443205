-- Version 8: a counter that moves whenever what the event writer matches signals against changes
-- (accounts, their contracts, their customers' names). The writer keeps every account in memory;
-- before this it forgot them all after any other connection's commit (an operator taking an
-- alarm, a signal committed by the console itself), and looked them up again one batch at a time.
CREATE TABLE store_versions (
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO store_versions (name, version) VALUES ('accounts', 0);

CREATE TRIGGER alarm_accounts_added AFTER INSERT ON alarm_accounts
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;
CREATE TRIGGER alarm_accounts_removed AFTER DELETE ON alarm_accounts
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;
CREATE TRIGGER alarm_accounts_matched AFTER UPDATE OF id, account_number, receiver, line, customer_id ON alarm_accounts
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;

CREATE TRIGGER contracts_added AFTER INSERT ON contracts
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;
CREATE TRIGGER contracts_removed AFTER DELETE ON contracts
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;
CREATE TRIGGER contracts_matched AFTER UPDATE OF id, customer_id, service_kind, state, alarm_account_id ON contracts
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;

CREATE TRIGGER customers_added AFTER INSERT ON customers
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;
CREATE TRIGGER customers_removed AFTER DELETE ON customers
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;
CREATE TRIGGER customers_named AFTER UPDATE OF id, name ON customers
BEGIN UPDATE store_versions SET version = version + 1 WHERE name = 'accounts'; END;
