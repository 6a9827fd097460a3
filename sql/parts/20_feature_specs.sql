-- The registry's helpers: locking, history, and feature specs (normalization, validation rules,
-- the DDL of feature columns). Registry functions are SECURITY DEFINER owned by fstore_owner
-- (callers need only EXECUTE, granted to fstore_admin), pin search_path, quote every identifier
-- with %I and pass every value as a parameter or a typed literal.

-- Column names PostgreSQL reserves in every table: never a join key or a feature.
CREATE OR REPLACE FUNCTION fstore._system_column_names() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['tableoid', 'xmin', 'cmin', 'xmax', 'cmax', 'ctid'] $$;

-- Serializes registry changes of this database, so concurrent changes on one name queue up and
-- the later one sees the earlier one (and fails with 42710) instead of a unique-index error.
CREATE OR REPLACE FUNCTION fstore._lock_registry() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('fstore.registry')) $$;

-- Records one registry change and wakes up fstore-server (which reloads its registry).
CREATE OR REPLACE FUNCTION fstore._log(object_type text, object_name text, action text,
                            old_version text, new_version text, detail jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO fstore.history_log (object_type, object_name, action, old_version, new_version, detail)
  VALUES (_log.object_type, _log.object_name, _log.action, _log.old_version, _log.new_version,
          COALESCE(_log.detail, '{}'));
  UPDATE fstore.registry_state SET version = version + 1;
  NOTIFY fstore_registry;
END
$$;

-- The registry row of a feature view; raises 42704 when there is none.
CREATE OR REPLACE FUNCTION fstore._view(view_name text) RETURNS fstore.view_registry
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry;
BEGIN
  SELECT * INTO v FROM fstore.view_registry r WHERE r.name = _view.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = '42704';
  END IF;
  RETURN v;
END
$$;

-- Raises 22023 unless `tags` is a usable tag list.
CREATE OR REPLACE FUNCTION fstore._check_tags(tags text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF tags IS NULL OR array_position(tags, NULL) IS NOT NULL OR cardinality(tags) > 100 THEN
    RAISE EXCEPTION 'tags must be an array of at most 100 non-NULL strings' USING ERRCODE = '22023';
  END IF;
END
$$;

-- Validates a feature spec of view `view_name` (an element of the `features` JSON array) and
-- returns it normalized: name, type (as format_type prints it), description, tags, status,
-- validation, expression. Raises 22023 naming the view and the feature on any mistake.
CREATE OR REPLACE FUNCTION fstore._normalize_feature(view_name text, spec jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  feature text;
  type_oid oid;
  type_name text;
  bad_key text;
  rule text;
  status text;
  validation jsonb;
  tags text[];
BEGIN
  IF jsonb_typeof(spec) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'feature view "%": each feature must be a JSON object, got %', view_name, spec
      USING ERRCODE = '22023';
  END IF;
  SELECT k INTO bad_key FROM jsonb_object_keys(spec) k
   WHERE k NOT IN ('name', 'type', 'description', 'tags', 'status', 'validation', 'expression') LIMIT 1;
  IF bad_key IS NOT NULL THEN
    RAISE EXCEPTION 'feature view "%": unknown feature attribute "%"', view_name, bad_key
      USING ERRCODE = '22023',
            HINT = 'Known attributes: name, type, description, tags, status, validation, expression.';
  END IF;
  feature := spec ->> 'name';
  PERFORM fstore._check_name('feature', feature);
  IF feature IN ('event_ts', 'created_ts') OR feature = ANY (fstore._system_column_names()) THEN
    RAISE EXCEPTION 'feature view "%": "%" is reserved and cannot name a feature', view_name, feature
      USING ERRCODE = '22023';
  END IF;

  -- The type, printed back by the catalog (never the user's text): built in or of an installed
  -- extension. A domain, enum or composite a role could create would run its code as fstore.
  BEGIN
    type_oid := pg_catalog.to_regtype(spec ->> 'type');
  EXCEPTION WHEN OTHERS THEN
    type_oid := NULL;
  END;
  IF type_oid IS NULL OR (SELECT t.typtype = 'p' FROM pg_catalog.pg_type t WHERE t.oid = type_oid) THEN
    RAISE EXCEPTION 'feature view "%", feature "%": unknown or unusable type "%"',
      view_name, feature, COALESCE(spec ->> 'type', 'NULL') USING ERRCODE = '22023';
  END IF;
  type_name := pg_catalog.format_type(type_oid, NULL);
  PERFORM fstore._check_trusted_type(format('feature view "%s", feature "%s"', view_name, feature), type_oid);

  status := COALESCE(spec ->> 'status', 'active');
  IF status NOT IN ('draft', 'active', 'deprecated', 'archived') THEN
    RAISE EXCEPTION 'feature view "%", feature "%": invalid status "%"', view_name, feature, status
      USING ERRCODE = '22023', HINT = 'Use draft, active, deprecated or archived.';
  END IF;

  BEGIN
    tags := COALESCE(ARRAY(SELECT jsonb_array_elements_text(spec -> 'tags')), '{}');
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'feature view "%", feature "%": tags must be a JSON array of strings', view_name, feature
      USING ERRCODE = '22023';
  END;

  validation := COALESCE(spec -> 'validation', '{}');
  IF jsonb_typeof(validation) <> 'object' THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation must be a JSON object', view_name, feature
      USING ERRCODE = '22023';
  END IF;
  SELECT k INTO rule FROM jsonb_object_keys(validation) k
   WHERE k NOT IN ('min', 'max', 'allowed', 'not_null', 'unique') LIMIT 1;
  IF rule IS NOT NULL THEN
    RAISE EXCEPTION 'feature view "%", feature "%": unknown validation rule "%"', view_name, feature, rule
      USING ERRCODE = '22023', HINT = 'Known rules: min, max, allowed, not_null, unique.';
  END IF;
  FOREACH rule IN ARRAY ARRAY['not_null', 'unique'] LOOP
    IF validation ? rule AND jsonb_typeof(validation -> rule) <> 'boolean' THEN
      RAISE EXCEPTION 'feature view "%", feature "%": validation rule "%" must be true or false',
        view_name, feature, rule USING ERRCODE = '22023';
    END IF;
  END LOOP;
  IF validation ? 'allowed' AND (jsonb_typeof(validation -> 'allowed') <> 'array'
                                 OR jsonb_array_length(validation -> 'allowed') = 0) THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation rule "allowed" must be a non-empty JSON array',
      view_name, feature USING ERRCODE = '22023';
  END IF;
  -- Every bound must be a value of the feature's type.
  BEGIN
    PERFORM fstore._typed_literal(validation -> 'min', type_name) WHERE validation ? 'min';
    PERFORM fstore._typed_literal(validation -> 'max', type_name) WHERE validation ? 'max';
    PERFORM fstore._typed_literal(a, type_name) FROM jsonb_array_elements(validation -> 'allowed') a
     WHERE validation ? 'allowed';
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation bound is not a valid %: %',
      view_name, feature, type_name, SQLERRM USING ERRCODE = '22023';
  END;
  IF validation ? 'min' AND validation ? 'max' AND fstore._literal_greater(validation -> 'min', validation -> 'max', type_name) THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation min % is greater than max %',
      view_name, feature, validation -> 'min', validation -> 'max' USING ERRCODE = '22023';
  END IF;

  IF spec ? 'expression' THEN
    PERFORM fstore._check_expression(spec ->> 'expression');
  END IF;

  RETURN jsonb_build_object('name', feature, 'type', type_name,
                            'description', COALESCE(spec ->> 'description', ''),
                            'tags', to_jsonb(tags), 'status', status, 'validation', validation,
                            'expression', spec -> 'expression');
END
$$;

-- Raises 22023 naming `what` unless `type_oid` may be a feature or join-key type.
CREATE OR REPLACE FUNCTION fstore._check_trusted_type(what text, type_oid oid) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT fstore._trusted_type(type_oid) THEN
    RAISE EXCEPTION '%: type % is neither built in nor part of an installed extension', what,
      pg_catalog.format_type(type_oid, NULL) USING ERRCODE = '22023',
      HINT = 'Domains, enums and composite types would run user code with fstore''s rights; use the base type.';
  END IF;
END
$$;

-- True when bound `a` is greater than bound `b`, both compared as values of `type_name`.
CREATE OR REPLACE FUNCTION fstore._literal_greater(a jsonb, b jsonb, type_name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  greater boolean;
BEGIN
  EXECUTE format('SELECT %s > %s', fstore._typed_literal(a, type_name), fstore._typed_literal(b, type_name))
    INTO greater;
  RETURN greater;
EXCEPTION WHEN undefined_function THEN
  RETURN false;  -- a type without an order: min and max are refused by its constraints anyway
END
$$;

-- A JSON scalar as a SQL literal of type `type_name`, checked by casting it once.
CREATE OR REPLACE FUNCTION fstore._typed_literal(value jsonb, type_name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  literal text;
BEGIN
  IF jsonb_typeof(value) NOT IN ('number', 'string', 'boolean') THEN
    RAISE EXCEPTION 'a bound must be a JSON number, string or boolean, got %', value USING ERRCODE = '22023';
  END IF;
  literal := format('%L::%s', value #>> '{}', type_name);
  EXECUTE 'SELECT ' || literal;  -- raises when the value is not of the type
  RETURN literal;
END
$$;

-- DDL of one managed feature column (normalized spec `f`) of table `tbl`: type, generation,
-- NOT NULL. A derived feature's generation expression is PostgreSQL's deparse of the checked
-- expression against `tbl` (which must already hold the columns it reads), never the user's text.
CREATE OR REPLACE FUNCTION fstore._feature_column_ddl(tbl regclass, f jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ddl text := format('%I %s', f ->> 'name', f ->> 'type');
BEGIN
  IF f ->> 'expression' IS NOT NULL THEN
    ddl := ddl || format(' GENERATED ALWAYS AS (%s) STORED',
                         fstore._deparse_expression(tbl, f ->> 'expression', (f ->> 'type')::regtype));
  END IF;
  IF (f -> 'validation' -> 'not_null') = 'true' THEN
    ddl := ddl || ' NOT NULL';
  END IF;
  RETURN ddl;
END
$$;

-- Table constraints for the validation rules of feature `f` of view `view_name`.
-- min, max and allowed become CHECK constraints that call fstore._validation_failed only when the
-- rule fails, so INSERT, COPY and fstore.ingest all get an error naming view, feature, rule and
-- value; unique becomes a UNIQUE constraint (not_null is part of the column).
CREATE OR REPLACE FUNCTION fstore._feature_constraints_ddl(view_name text, f jsonb) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  feature text := f ->> 'name';
  type_name text := f ->> 'type';
  v jsonb := f -> 'validation';
  col text := format('%I', feature);
  -- Constraint names: <feature>_<rule>, the feature shortened with a hash when long, so that two
  -- long features never collide after PostgreSQL's 63-byte truncation.
  short text := CASE WHEN length(feature) <= 50 THEN feature
                     ELSE left(feature, 41) || '_' || left(md5(feature), 8) END;
  result text[] := '{}';
  rule text;
  test text;
BEGIN
  FOREACH rule IN ARRAY ARRAY['min', 'max', 'allowed'] LOOP
    CONTINUE WHEN NOT v ? rule;
    test := CASE rule
      WHEN 'min' THEN format('%s >= %s', col, fstore._typed_literal(v -> 'min', type_name))
      WHEN 'max' THEN format('%s <= %s', col, fstore._typed_literal(v -> 'max', type_name))
      ELSE format('%s IN (%s)', col, (SELECT string_agg(fstore._typed_literal(a, type_name), ', ')
                                         FROM jsonb_array_elements(v -> 'allowed') a))
    END;
    result := result || format('CONSTRAINT %I CHECK (%s IS NULL OR %s OR fstore._validation_failed(%L, %L, %L, %s::text))',
                               short || '_' || rule, col, test, view_name, feature,
                               rule || ' ' || (v ->> rule), col);
  END LOOP;
  IF (v -> 'unique') = 'true' THEN
    result := result || format('CONSTRAINT %I UNIQUE (%s)', short || '_unique', col);
  END IF;
  RETURN result;
END
$$;

-- Inserts the registry rows of normalized features `specs` of view `view_name`, at `version`,
-- positions after the view's current last one.
CREATE OR REPLACE FUNCTION fstore._register_features(view_name text, specs jsonb, version text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO fstore.feature_registry (view_name, name, position, type, description, tags, status,
                                       version, validation, expression)
  SELECT _register_features.view_name, s ->> 'name',
         COALESCE((SELECT max(position) FROM fstore.feature_registry r
                    WHERE r.view_name = _register_features.view_name), 0) + ord,
         (s ->> 'type')::regtype, s ->> 'description',
         ARRAY(SELECT jsonb_array_elements_text(s -> 'tags')), s ->> 'status', _register_features.version,
         s -> 'validation', s ->> 'expression'
  FROM jsonb_array_elements(specs) WITH ORDINALITY AS t(s, ord);
$$;

-- Normalizes a JSON array of feature specs, refusing duplicates and names taken in `taken`.
CREATE OR REPLACE FUNCTION fstore._normalize_features(view_name text, features jsonb, taken text[]) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result jsonb := '[]';
  spec jsonb;
  f jsonb;
BEGIN
  IF jsonb_typeof(features) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'feature view "%": features must be a JSON array of feature objects', view_name
      USING ERRCODE = '22023';
  END IF;
  IF jsonb_array_length(features) > 1000 THEN
    RAISE EXCEPTION 'feature view "%": at most 1000 features per call', view_name USING ERRCODE = '22023';
  END IF;
  FOR spec IN SELECT jsonb_array_elements(features) LOOP
    f := fstore._normalize_feature(view_name, spec);
    IF (f ->> 'name') = ANY (taken) THEN
      RAISE EXCEPTION 'feature view "%": feature "%" already exists', view_name, f ->> 'name'
        USING ERRCODE = '42710';
    END IF;
    taken := taken || (f ->> 'name');
    result := result || jsonb_build_array(f);
  END LOOP;
  RETURN result;
END
$$;

