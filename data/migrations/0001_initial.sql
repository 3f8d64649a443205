-- Centinela schema, version 1: every table of the product, so later features extend it.
-- Conventions: times are UTC ISO-8601 text ('YYYY-MM-DDTHH:MM:SS.mmmZ', sortable); calendar
-- dates are 'YYYY-MM-DD'; money is decimal text (never REAL); anything a real record may lack is
-- nullable, because the console must load whatever the field data holds.

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    ref         TEXT UNIQUE,
    name        TEXT NOT NULL,
    tax_id      TEXT,
    email       TEXT,
    phone       TEXT,
    mobile      TEXT,
    address     TEXT,
    city        TEXT,
    notes       TEXT,
    odoo_id     INTEGER UNIQUE,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE alarm_accounts (
    id               INTEGER PRIMARY KEY,
    account_number   TEXT,
    receiver         TEXT,  -- NULL matches any receiver
    line             TEXT,  -- NULL matches any line
    customer_id      INTEGER REFERENCES customers(id) ON DELETE SET NULL,
    location         TEXT,
    latitude         REAL,
    longitude        REAL,
    device_type      TEXT,
    instructions     TEXT,  -- the action plan operators follow
    aes_key          TEXT,  -- hex, for encrypted DC-09
    test_interval_s  INTEGER,  -- expected time between supervision signals
    last_seen_at     TEXT,
    notes            TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX alarm_accounts_key
    ON alarm_accounts (account_number, coalesce(receiver, ''), coalesce(line, ''));

CREATE TABLE zones (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES alarm_accounts(id) ON DELETE CASCADE,
    number      TEXT NOT NULL,
    name        TEXT,
    kind        TEXT,
    UNIQUE (account_id, number)
);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES alarm_accounts(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    phone       TEXT,
    relation    TEXT,
    notes       TEXT
);
CREATE INDEX contacts_account ON contacts (account_id, position);

CREATE TABLE plans (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    service_kind  TEXT NOT NULL CHECK (service_kind IN ('internet', 'alarm')),
    price         TEXT NOT NULL,
    currency      TEXT NOT NULL,
    tax_rate      TEXT,
    cycle         TEXT NOT NULL DEFAULT 'monthly'
                  CHECK (cycle IN ('monthly', 'bimonthly', 'quarterly', 'semiannual', 'yearly')),
    billing_mode  TEXT NOT NULL DEFAULT 'prepaid' CHECK (billing_mode IN ('prepaid', 'postpaid')),
    grace_days    INTEGER,
    active        INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE routers (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    host         TEXT NOT NULL,
    port         INTEGER,
    tls          INTEGER NOT NULL DEFAULT 0,
    username     TEXT NOT NULL,
    password     TEXT,
    method       TEXT NOT NULL DEFAULT 'address-list' CHECK (method IN ('address-list', 'ppp-secret')),
    list_name    TEXT NOT NULL DEFAULT 'morosos',
    notice_list  TEXT,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE contracts (
    id                    INTEGER PRIMARY KEY,
    ref                   TEXT UNIQUE,
    customer_id           INTEGER NOT NULL REFERENCES customers(id),
    service_kind          TEXT NOT NULL CHECK (service_kind IN ('internet', 'alarm')),
    plan_id               INTEGER REFERENCES plans(id),
    price                 TEXT,
    currency              TEXT,
    billing_cycle         TEXT,
    anchor_day            INTEGER CHECK (anchor_day BETWEEN 1 AND 31),
    current_period_start  TEXT,
    current_period_end    TEXT,
    grace_days            INTEGER,  -- overrides the plan and the global default
    state                 TEXT NOT NULL DEFAULT 'active'
                          CHECK (state IN ('draft', 'active', 'grace', 'notice', 'suspended', 'cancelled')),
    router_id             INTEGER REFERENCES routers(id),
    router_target         TEXT,  -- customer IP (address-list) or PPPoE user (ppp-secret)
    alarm_account_id      INTEGER REFERENCES alarm_accounts(id) ON DELETE SET NULL,
    start_date            TEXT,
    end_date              TEXT,
    odoo_id               INTEGER,
    created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX contracts_customer ON contracts (customer_id);
CREATE INDEX contracts_alarm_account ON contracts (alarm_account_id);

CREATE TABLE billing_runs (
    id              INTEGER PRIMARY KEY,
    run_date        TEXT NOT NULL,
    kind            TEXT NOT NULL DEFAULT 'billing' CHECK (kind IN ('billing', 'cutoff')),
    dry_run         INTEGER NOT NULL DEFAULT 0,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    invoices        INTEGER NOT NULL DEFAULT 0,
    suspensions     INTEGER NOT NULL DEFAULT 0,
    reconnections   INTEGER NOT NULL DEFAULT 0,
    errors          TEXT,
    status          TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed'))
);

CREATE TABLE invoices (
    id            INTEGER PRIMARY KEY,
    number        TEXT UNIQUE,
    customer_id   INTEGER NOT NULL REFERENCES customers(id),
    invoice_date  TEXT NOT NULL,
    due_date      TEXT NOT NULL,
    currency      TEXT NOT NULL,
    subtotal      TEXT NOT NULL,
    tax           TEXT NOT NULL DEFAULT '0',
    total         TEXT NOT NULL,
    residual      TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'posted' CHECK (state IN ('draft', 'posted', 'paid', 'cancelled')),
    run_id        INTEGER REFERENCES billing_runs(id),
    odoo_id       INTEGER,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX invoices_customer ON invoices (customer_id, invoice_date);

CREATE TABLE invoice_lines (
    id            INTEGER PRIMARY KEY,
    invoice_id    INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    contract_id   INTEGER NOT NULL REFERENCES contracts(id),
    period_start  TEXT NOT NULL,
    period_end    TEXT NOT NULL,
    description   TEXT,
    quantity      TEXT NOT NULL DEFAULT '1',
    unit_price    TEXT NOT NULL,
    tax_rate      TEXT,
    amount        TEXT NOT NULL,
    UNIQUE (contract_id, period_start)  -- a contract is billed at most once per period
);

CREATE TABLE payments (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    amount       TEXT NOT NULL,
    currency     TEXT,
    paid_on      TEXT NOT NULL,
    method       TEXT,
    reference    TEXT,
    odoo_id      INTEGER UNIQUE,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX payments_customer ON payments (customer_id, paid_on);

CREATE TABLE router_actions (
    id               INTEGER PRIMARY KEY,
    router_id        INTEGER NOT NULL REFERENCES routers(id),
    contract_id      INTEGER REFERENCES contracts(id),
    action           TEXT NOT NULL CHECK (action IN ('suspend', 'reconnect', 'notice', 'clear-notice')),
    target           TEXT NOT NULL,
    reason           TEXT,
    state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    done_at          TEXT
);
CREATE INDEX router_actions_queue ON router_actions (state, next_attempt_at);

CREATE TABLE priorities (
    level                INTEGER PRIMARY KEY,
    name_es              TEXT NOT NULL,
    name_en              TEXT NOT NULL,
    colour               TEXT NOT NULL,
    requires_ack         INTEGER NOT NULL DEFAULT 1,  -- 0: stored as already resolved
    sound                TEXT,
    reminder_sound       TEXT,
    reminder_interval_s  INTEGER
);
INSERT INTO priorities (level, name_es, name_en, colour, requires_ack, sound, reminder_sound, reminder_interval_s) VALUES
    (1, 'Crítica',     'Critical',    '#ff3b30', 1, 'critical.wav',    'reminder.wav', 60),
    (2, 'Alta',        'High',        '#ff9500', 1, 'high.wav',        'reminder.wav', 120),
    (3, 'Media',       'Medium',      '#ffcc00', 1, 'medium.wav',      'reminder.wav', 300),
    (4, 'Supervisión', 'Supervisory', '#5ac8fa', 1, 'supervisory.wav', 'reminder.wav', 600),
    (5, 'Baja',        'Low',         '#a0a0a0', 0, NULL,              NULL,           NULL),
    (6, 'Informativa', 'Info',        '#707070', 0, NULL,              NULL,           NULL);

CREATE TABLE code_overrides (
    family    TEXT NOT NULL CHECK (family IN ('cid', 'sia')),
    code      TEXT NOT NULL,
    priority  INTEGER NOT NULL REFERENCES priorities(level),
    PRIMARY KEY (family, code)
);

CREATE TABLE events (
    id                 INTEGER PRIMARY KEY,
    received_at        TEXT NOT NULL,
    protocol           TEXT NOT NULL,
    raw                TEXT NOT NULL,
    account            TEXT,
    receiver           TEXT,
    line               TEXT,
    sequence           TEXT,
    code               TEXT,
    qualifier          TEXT,
    zone               TEXT,
    partition          TEXT,
    user               TEXT,
    text               TEXT,
    panel_time         TEXT,
    priority           INTEGER NOT NULL,
    alarm_account_id   INTEGER REFERENCES alarm_accounts(id) ON DELETE SET NULL,
    customer_id        INTEGER REFERENCES customers(id) ON DELETE SET NULL,
    customer_name      TEXT,  -- snapshot at reception: history keeps the name the operator saw
    unknown_account    INTEGER NOT NULL DEFAULT 0,
    service_suspended  INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL DEFAULT 'new'
                       CHECK (status IN ('new', 'pending', 'acknowledged', 'resolved')),
    taken_by           TEXT,
    hold_until         TEXT,
    resolution         TEXT,
    resolved_at        TEXT
);
CREATE INDEX events_received ON events (received_at);
CREATE INDEX events_account ON events (account, id);
CREATE INDEX events_open ON events (priority, id) WHERE status <> 'resolved';

CREATE TABLE event_actions (
    id        INTEGER PRIMARY KEY,
    event_id  INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    operator  TEXT,
    action    TEXT NOT NULL,
    note      TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX event_actions_event ON event_actions (event_id, id);

CREATE TABLE operators (
    id             INTEGER PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    full_name      TEXT,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL DEFAULT 'operator' CHECK (role IN ('operator', 'admin')),
    active         INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,  -- JSON
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_by  TEXT
);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    target           TEXT NOT NULL DEFAULT 'odoo',
    operation        TEXT NOT NULL,
    payload          TEXT NOT NULL,  -- JSON
    dedupe_key       TEXT UNIQUE,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'parked')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_error       TEXT,
    done_at          TEXT
);
CREATE INDEX outbox_queue ON outbox (state, id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT,
    entity_id  TEXT,
    detail     TEXT  -- JSON
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
