-- The demo's own tables that its feature repository (examples/demo) refers to: the shop's raw
-- interaction events, adopted in place as the feature view customer_last_action. Run before
-- `fstore apply examples/demo`; tools/demo_data.sql fills them.
CREATE SCHEMA IF NOT EXISTS demo;
CREATE TABLE demo.interactions (
  customer_id bigint NOT NULL,
  product_id bigint NOT NULL,
  action text NOT NULL,            -- view | cart | purchase
  event_ts timestamptz NOT NULL
);
