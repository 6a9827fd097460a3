-- Transformations with fitted state (0.2.0): a feature service's transformations, their fitted
-- states as numbered immutable versions, and the C++ that checks a spec (common/transform.cpp,
-- the same code that applies states in training sets and in fstore-server).

-- A transformation spec, checked against the feature's type and returned normalized (every
-- default written out). Raises 22023 naming the feature and its type.
CREATE OR REPLACE FUNCTION fstore._check_transform(feature text, spec jsonb, type regtype) RETURNS jsonb
  AS 'MODULE_PATHNAME', 'fstore_check_transform' LANGUAGE C STABLE;

-- The service's features, expanded ('view:*' to the view's active and deprecated features),
-- as 'view:feature' references in order.
CREATE OR REPLACE FUNCTION fstore._service_refs(service text) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s fstore.service_registry;
BEGIN
  SELECT * INTO s FROM fstore.service_registry r WHERE r.name = _service_refs.service;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature service "%" does not exist', service USING ERRCODE = '42704';
  END IF;
  RETURN ARRAY(SELECT f.view_name || ':' || f.feature_name FROM fstore._resolve_feature_refs(s.features) f
                ORDER BY f.ordinal);
END
$$;

-- Sets (replaces) the transformations of feature service `service`: a JSON object mapping
-- feature references of the service to specs. '{}' removes them. Stored states stay (they are
-- immutable); a training set or online request applying a state fitted for other specs or
-- features is refused.
CREATE OR REPLACE FUNCTION fstore.set_transforms(service text, transforms jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s fstore.service_registry;
  refs text[];
  ref text;
  spec jsonb;
  normalized jsonb := '{}';
  ftype regtype;
  new_version text;
BEGIN
  IF jsonb_typeof(set_transforms.transforms) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'feature service "%": transforms must be a JSON object mapping features to transformations',
      set_transforms.service USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._lock_registry();
  SELECT * INTO s FROM fstore.service_registry r WHERE r.name = set_transforms.service;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature service "%" does not exist', set_transforms.service USING ERRCODE = '42704';
  END IF;
  refs := fstore._service_refs(s.name);
  FOR ref, spec IN SELECT key, value FROM jsonb_each(set_transforms.transforms) LOOP
    IF NOT ref = ANY (refs) THEN
      RAISE EXCEPTION 'feature service "%": "%" is not one of its features', s.name, ref
        USING ERRCODE = '22023', HINT = format('Its features: %s.', array_to_string(refs, ', '));
    END IF;
    SELECT f.type INTO ftype FROM fstore.feature_registry f
     WHERE f.view_name = split_part(ref, ':', 1) AND f.name = substr(ref, length(split_part(ref, ':', 1)) + 2);
    normalized := normalized || jsonb_build_object(ref, fstore._check_transform(ref, spec, ftype));
  END LOOP;
  IF normalized = s.transforms THEN
    RETURN;
  END IF;
  new_version := fstore._next_version(s.version, 'minor');
  UPDATE fstore.service_registry r SET transforms = normalized, version = new_version, updated_at = now()
   WHERE r.name = s.name;
  PERFORM fstore._log('feature_service', s.name, 'set_transforms', s.version, new_version,
                      jsonb_build_object('from', s.transforms, 'to', normalized));
END
$$;

-- Stores a fitted state as the service's next transform version; returns the version. Called by
-- create_training_set (transform => 'fit') in the caller's transaction. A new version is what
-- 'latest' serves, a registry change: the caller must be an fstore_admin (42501 otherwise);
-- readers apply stored versions. SECURITY DEFINER: nobody writes the registry table directly.
CREATE OR REPLACE FUNCTION fstore._store_transform_version(service text, state jsonb, entity_rows text,
                                                          row_count bigint, fitted_specs jsonb) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s fstore.service_registry;
  next_version integer;
BEGIN
  IF NOT pg_catalog.pg_has_role(fstore._caller(), 'fstore_admin', 'MEMBER') THEN
    RAISE EXCEPTION 'permission denied: fitting transformations of feature service "%" stores a new version', service
      USING ERRCODE = '42501',
            HINT = 'Fitting needs fstore_admin (''latest'' serves what it stores); apply a stored version with transform => ''latest'' or a number.';
  END IF;
  PERFORM fstore._lock_registry();
  SELECT * INTO s FROM fstore.service_registry r WHERE r.name = _store_transform_version.service;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature service "%" does not exist', service USING ERRCODE = '42704';
  END IF;
  IF s.transforms IS DISTINCT FROM fitted_specs THEN
    RAISE EXCEPTION 'feature service "%" changed its transformations while they were being fitted', s.name
      USING ERRCODE = '40001', HINT = 'Build the training set again.';
  END IF;
  SELECT COALESCE(max(t.version), 0) + 1 INTO next_version
    FROM fstore.transform_version_registry t WHERE t.service = s.name;
  INSERT INTO fstore.transform_version_registry (service, version, fitted_by, entity_rows, row_count,
                                                 features, transforms, state)
  VALUES (s.name, next_version, fstore._caller(), left(entity_rows, 10000), row_count,
          fstore._service_refs(s.name), s.transforms, _store_transform_version.state);
  PERFORM fstore._log('feature_service', s.name, 'fit_transforms', NULL, next_version::text,
                      jsonb_build_object('row_count', row_count));
  RETURN next_version;
END
$$;

-- The stored state that `transform` ('latest' or a version number) names for `service`, checked
-- to fit the service as it is now: same features, same specs, none archived since. Raises 42704
-- for a version that does not exist (never another version instead), 22023 for a stale state.
CREATE OR REPLACE FUNCTION fstore._transform_state(service text, transform text)
RETURNS TABLE (version integer, state jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s fstore.service_registry;
  t fstore.transform_version_registry;
BEGIN
  SELECT * INTO s FROM fstore.service_registry r WHERE r.name = _transform_state.service;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature service "%" does not exist', service USING ERRCODE = '42704';
  END IF;
  IF transform = 'latest' THEN
    SELECT * INTO t FROM fstore.transform_version_registry v WHERE v.service = s.name ORDER BY v.version DESC LIMIT 1;
  ELSIF transform ~ '^[0-9]{1,9}$' THEN
    SELECT * INTO t FROM fstore.transform_version_registry v WHERE v.service = s.name AND v.version = transform::integer;
  ELSE
    RAISE EXCEPTION 'transform must be NULL, ''fit'', ''latest'' or a version number, not %', quote_literal(transform)
      USING ERRCODE = '22023';
  END IF;
  IF t.version IS NULL THEN
    RAISE EXCEPTION 'feature service "%" has %', s.name,
      CASE WHEN transform = 'latest' THEN 'no fitted transform version yet' ELSE 'no transform version ' || transform END
      USING ERRCODE = '42704',
      HINT = 'Fit one with fstore.create_training_set(..., feature_service => ..., transform => ''fit'').';
  END IF;
  IF t.transforms IS DISTINCT FROM s.transforms OR t.features IS DISTINCT FROM fstore._service_refs(s.name) THEN
    RAISE EXCEPTION 'transform version % of feature service "%" was fitted for other features or transformations',
      t.version, s.name USING ERRCODE = '22023',
      HINT = 'The service changed since; fit a new version with transform => ''fit''.';
  END IF;
  version := t.version;
  state := t.state;
  RETURN NEXT;
END
$$;

CREATE OR REPLACE VIEW fstore.transform_versions AS
  SELECT service, version, fitted_at, fitted_by, entity_rows, row_count, state, features, transforms
    FROM fstore.transform_version_registry;

-- A fitted version never changes: models were trained with it.
CREATE OR REPLACE FUNCTION fstore._transform_version_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'transform versions are immutable: models were trained with them'
    USING ERRCODE = '55000', HINT = 'Fit a new version with create_training_set(..., transform => ''fit'').';
END
$$;
DROP TRIGGER IF EXISTS transform_version_immutable ON fstore.transform_version_registry;
CREATE TRIGGER transform_version_immutable BEFORE UPDATE OR DELETE ON fstore.transform_version_registry
  FOR EACH ROW EXECUTE FUNCTION fstore._transform_version_immutable();
