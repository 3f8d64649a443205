-- Version 3: what the billing worker needs (see data/billing_store.py and billing/worker.py).

-- Invoice lines carry their tax and kind. A contract is billed once per period: the unique key
-- holds for period lines only, since plan-change lines share a contract and start date with the
-- period they correct. SQLite cannot drop a table constraint, so the table is rebuilt (the
-- "other kinds of table schema changes" procedure of https://www.sqlite.org/lang_altertable.html).
-- Nothing references invoice_lines, so dropping it with foreign keys on cannot fail.
CREATE TABLE invoice_lines_v3 (
    id            INTEGER PRIMARY KEY,
    invoice_id    INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    contract_id   INTEGER NOT NULL REFERENCES contracts(id),
    kind          TEXT NOT NULL DEFAULT 'period' CHECK (kind IN ('period', 'plan-change')),
    period_start  TEXT NOT NULL,
    period_end    TEXT NOT NULL,
    description   TEXT,
    quantity      TEXT NOT NULL DEFAULT '1',
    unit_price    TEXT NOT NULL,
    tax_rate      TEXT,
    amount        TEXT NOT NULL,
    tax           TEXT NOT NULL DEFAULT '0'
);
INSERT INTO invoice_lines_v3
    (id, invoice_id, contract_id, period_start, period_end, description, quantity, unit_price, tax_rate, amount)
    SELECT id, invoice_id, contract_id, period_start, period_end, description, quantity, unit_price, tax_rate, amount
    FROM invoice_lines;
DROP TABLE invoice_lines;
ALTER TABLE invoice_lines_v3 RENAME TO invoice_lines;
CREATE UNIQUE INDEX invoice_lines_once_per_period ON invoice_lines (contract_id, period_start) WHERE kind = 'period';
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id);

-- Invoice numbers run per calendar year of the invoice date: FAC-2026-000123.
CREATE TABLE invoice_sequences (
    year         INTEGER PRIMARY KEY,
    last_number  INTEGER NOT NULL
);
-- Invoices are 'posted' until the residual reaches zero; cutoffs look for those past due.
CREATE INDEX invoices_overdue ON invoices (due_date, customer_id) WHERE state = 'posted';

-- A payment settles invoices oldest first; what no invoice took stays unsettled (the customer's
-- credit) and is allocated when the next invoices are posted. Payments written by others (the
-- Odoo sync) arrive unsettled and are allocated by the billing worker.
ALTER TABLE payments ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX payments_unsettled ON payments (customer_id) WHERE settled = 0;
CREATE TABLE payment_allocations (
    id          INTEGER PRIMARY KEY,
    payment_id  INTEGER NOT NULL REFERENCES payments(id) ON DELETE CASCADE,
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    amount      TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX payment_allocations_payment ON payment_allocations (payment_id);
CREATE INDEX payment_allocations_invoice ON payment_allocations (invoice_id);

-- Contracts: when and why the service state last changed, and an admin's hold. A hold
-- 'suspended' keeps the service cut until an admin reconnects it; a hold 'active' keeps it on
-- until hold_until (a promise to pay) whatever the debt. Automatic cutoffs skip held contracts.
ALTER TABLE contracts ADD COLUMN state_changed_at TEXT;
ALTER TABLE contracts ADD COLUMN state_reason TEXT;
ALTER TABLE contracts ADD COLUMN hold TEXT CHECK (hold IN ('suspended', 'active'));
ALTER TABLE contracts ADD COLUMN hold_until TEXT;
CREATE INDEX contracts_standing ON contracts (state) WHERE state IN ('grace', 'notice', 'suspended');
CREATE INDEX contracts_router ON contracts (router_id) WHERE router_id IS NOT NULL;

-- Routers: how long to wait for an answer, and the CA (or self-signed certificate) for API-SSL.
ALTER TABLE routers ADD COLUMN timeout REAL NOT NULL DEFAULT 10;
ALTER TABLE routers ADD COLUMN tls_ca_file TEXT;

-- Runs: which process runs it ("host:pid"), so a run left 'running' by a dead process does not
-- block the next one.
ALTER TABLE billing_runs ADD COLUMN owner TEXT;
CREATE INDEX billing_runs_kind ON billing_runs (kind, status, started_at);

-- Router actions: the contract reference their mark carries, the run that queued them, and
-- 'superseded' for a queued action made pointless by a later change (a suspend the customer paid
-- before the router was reached). Rebuilt to change the state check; nothing references it.
CREATE TABLE router_actions_v3 (
    id               INTEGER PRIMARY KEY,
    router_id        INTEGER NOT NULL REFERENCES routers(id),
    contract_id      INTEGER REFERENCES contracts(id),
    contract_ref     TEXT NOT NULL,
    run_id           INTEGER REFERENCES billing_runs(id),
    action           TEXT NOT NULL CHECK (action IN ('suspend', 'reconnect', 'notice', 'clear-notice')),
    target           TEXT NOT NULL,
    reason           TEXT,
    state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed', 'superseded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    done_at          TEXT
);
INSERT INTO router_actions_v3
    (id, router_id, contract_id, contract_ref, action, target, reason, state, attempts, next_attempt_at,
     last_error, created_at, done_at)
    SELECT a.id, a.router_id, a.contract_id, coalesce(c.ref, '#' || a.contract_id, '#'), a.action, a.target,
           a.reason, a.state, a.attempts, a.next_attempt_at, a.last_error, a.created_at, a.done_at
    FROM router_actions a LEFT JOIN contracts c ON c.id = a.contract_id;
DROP TABLE router_actions;
ALTER TABLE router_actions_v3 RENAME TO router_actions;
CREATE INDEX router_actions_queue ON router_actions (state, next_attempt_at);
CREATE INDEX router_actions_contract ON router_actions (contract_id, state);
