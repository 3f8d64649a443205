-- Version 4: what the Odoo sync needs (see data/odoo_sync.py, data/odoo_pull.py, data/odoo_push.py).

-- Where each incremental pull resumes: the (write_date, id) of the last record applied, in
-- Odoo's order "write_date, id". Records sharing one write_date (one Odoo transaction) are told
-- apart by id, so a batch boundary inside such a group loses nothing. The cursor moves in the same
-- transaction as the rows it covers, so a pull killed half way resumes where it stopped.
CREATE TABLE odoo_cursors (
    model       TEXT PRIMARY KEY,   -- 'res.partner', 'contract.contract', 'account.move', ...
    write_date  TEXT,               -- Odoo's 'YYYY-MM-DD HH:MM:SS' (UTC)
    last_id     INTEGER NOT NULL DEFAULT 0,
    pulled_at   TEXT,               -- our UTC instant of the last pull of this model that finished
    checked_at  TEXT                -- our UTC instant of the last check for deleted records
);

-- A contract's Odoo record is (model, id): the model depends on the installation's mapping
-- (centinela.subscription, contract.contract, sale.order), so the id alone is not a key.
ALTER TABLE contracts ADD COLUMN odoo_model TEXT;
CREATE UNIQUE INDEX contracts_odoo_record ON contracts (odoo_model, odoo_id);  -- NULLs never clash
CREATE UNIQUE INDEX invoices_odoo_id ON invoices (odoo_id);

-- Odoo records found archived or deleted. The local row stays (history, alarms and invoices point
-- at it) but is made inactive (customers) or cancelled (contracts); unarchiving in Odoo removes
-- the row here and brings the local one back. Deleted payments are removed from the cache.
CREATE TABLE odoo_removed (
    model       TEXT NOT NULL,
    odoo_id     INTEGER NOT NULL,
    how         TEXT NOT NULL CHECK (how IN ('archived', 'deleted')),
    noticed_at  TEXT NOT NULL,
    PRIMARY KEY (model, odoo_id)
);

-- The sync worker's last outcome, for the status bar of every console on this data folder and
-- for `centinela sync status` (the worker runs in one process, the readers in others).
CREATE TABLE odoo_sync_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    link             TEXT NOT NULL,   -- connected | unreachable | refused | misconfigured
    server_version   TEXT,
    last_success_at  TEXT,
    last_error       TEXT,
    last_error_at    TEXT,
    updated_at       TEXT NOT NULL
);
