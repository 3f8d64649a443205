-- Version 5: operators' notes on an alarm account, written from the account card. A table rather
-- than text appended to alarm_accounts.notes (which Odoo may overwrite) so each note keeps its
-- time and operator and the card can read the newest ones without loading them all.
CREATE TABLE account_notes (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES alarm_accounts(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    operator    TEXT NOT NULL,
    text        TEXT NOT NULL
);
CREATE INDEX account_notes_account ON account_notes (account_id, id);
