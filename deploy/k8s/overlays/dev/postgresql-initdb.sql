-- The demo database of `mcpmesh up` (libs/mcpmesh/src/mcpmesh/embedded/demo.sql): a copy,
-- because kustomize loads no file outside its directory. tests/deploy checks it matches.
CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    country     char(2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id          integer PRIMARY KEY,
    sku         uuid NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(12, 2) NOT NULL CHECK (price >= 0),
    tags        text[] NOT NULL DEFAULT '{}',
    attributes  jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    ordered_at   timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'paid', 'shipped', 'cancelled')),
    ship_within  interval NOT NULL DEFAULT interval '3 days'
);
CREATE TABLE order_items (
    order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  integer NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE SEQUENCE invoice_numbers START 1000;
CREATE VIEW order_totals AS
    SELECT o.id AS order_id, o.customer_id, sum(i.quantity * p.price) AS total
    FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id
    GROUP BY o.id, o.customer_id;

INSERT INTO customers (name, email, country, created_at)
SELECT 'Customer ' || n, 'customer' || n || '@example.com',
       (ARRAY['DE', 'FR', 'US', 'JP', 'BR'])[1 + n % 5],
       timestamptz '2026-01-01 09:00:00+00' + n * interval '1 day'
FROM generate_series(1, 50) AS n;
INSERT INTO products (id, sku, name, price, tags, attributes) VALUES
    (1, 'a0c4b1de-4d25-4f1e-9a55-1d7a2c0f0001', 'Espresso beans 1 kg', 24.90, '{coffee,beans}', '{"roast": "dark", "origin": ["BR", "ET"]}'),
    (2, 'a0c4b1de-4d25-4f1e-9a55-1d7a2c0f0002', 'Grinder', 189.00, '{equipment}', '{"burr": "conical"}'),
    (3, 'a0c4b1de-4d25-4f1e-9a55-1d7a2c0f0003', 'Milk jug', 12.50, '{equipment,milk}', '{"volume_ml": 600}'),
    (4, 'a0c4b1de-4d25-4f1e-9a55-1d7a2c0f0004', 'Descaler', 9.99, '{care}', '{}');
INSERT INTO orders (customer_id, ordered_at, status)
SELECT 1 + n % 50, timestamptz '2026-03-01 12:00:00+00' + n * interval '7 hours',
       (ARRAY['open', 'paid', 'shipped', 'cancelled'])[1 + n % 4]
FROM generate_series(1, 200) AS n;
INSERT INTO order_items (order_id, product_id, quantity)
SELECT o.id, 1 + (o.id + k) % 4, 1 + (o.id * k) % 3
FROM orders o, generate_series(0, 1) AS k;
ANALYZE;

DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcpmesh_read') THEN
        CREATE ROLE mcpmesh_read NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcpmesh_write') THEN
        CREATE ROLE mcpmesh_write NOLOGIN IN ROLE mcpmesh_read;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcpmesh_reader') THEN
        CREATE ROLE mcpmesh_reader LOGIN IN ROLE mcpmesh_read;
    END IF;
END $$;
GRANT pg_read_all_stats TO mcpmesh_read;
REVOKE ALL ON DATABASE demo FROM PUBLIC;
GRANT CONNECT ON DATABASE demo TO mcpmesh_read;
GRANT USAGE ON SCHEMA public TO mcpmesh_read;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO mcpmesh_read;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO mcpmesh_read;
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO mcpmesh_write;
GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public TO mcpmesh_write;
-- Signalling other sessions is for administrators only (a read-only login could
-- otherwise end its siblings' sessions): revoke the PUBLIC grant of these functions.
REVOKE EXECUTE ON FUNCTION pg_terminate_backend(integer, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_cancel_backend(integer) FROM PUBLIC;

CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
