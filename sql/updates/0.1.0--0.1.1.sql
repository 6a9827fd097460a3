-- fstore 0.1.0 -> 0.1.1: the security and robustness release.
-- State changes only (roles, tables, ownership, functions that are gone or changed shape); the
-- definition parts of sql/parts/ (10-99) follow this file in the assembled upgrade script.

\echo Use "ALTER EXTENSION fstore UPDATE TO '0.1.1'" to load this file. \quit

