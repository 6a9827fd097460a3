-- 10,000 failing calls in one session must not grow the backend's memory (C++ objects freed,
-- PostgreSQL contexts reset). Resident set size is read from /proc before and after.
CREATE FUNCTION regress_rss_kb() RETURNS bigint LANGUAGE sql AS $$
  SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmRSS:\s+(\d+)'))[1]::bigint
$$;
CREATE FUNCTION regress_fail_many(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  failures int := 0;
BEGIN
  FOR i IN 1..n LOOP
    BEGIN  -- C++ error thrown by fstore (duplicate column), through the boundary
      PERFORM fstore.create_training_set('t_mem', 'labels', ARRAY['rider_stats:rides', 'rider_stats:rides']);
    EXCEPTION WHEN OTHERS THEN failures := failures + 1;
    END;
    BEGIN  -- PostgreSQL error raised under C++ frames (the entity-rows query divides by zero)
      PERFORM fstore.create_training_set('t_mem', 'SELECT 1/0 AS rider_id, now() AS event_timestamp', ARRAY['rider_stats:rides']);
    EXCEPTION WHEN OTHERS THEN failures := failures + 1;
    END;
    BEGIN  -- parser error caught in C++ and rethrown as a fstore error
      PERFORM fstore._check_expression('1 +');
    EXCEPTION WHEN OTHERS THEN failures := failures + 1;
    END;
  END LOOP;
  RETURN failures;
END $$;
SELECT regress_fail_many(1000);  -- warm caches
CREATE TEMP TABLE rss AS SELECT regress_rss_kb() AS before;
SELECT regress_fail_many(10000);
SELECT CASE WHEN regress_rss_kb() - before < 4096 THEN 'memory stable'
            ELSE 'memory grew by ' || (regress_rss_kb() - before) || ' kB' END AS result FROM rss;
