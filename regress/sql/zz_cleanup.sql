-- Roles are cluster-wide: remove the suite's own so the suite can run again on the same cluster.
\c postgres
DROP DATABASE fstore_regress WITH (FORCE);
DROP ROLE regress_reader, regress_writer, regress_admin, regress_nobody;
