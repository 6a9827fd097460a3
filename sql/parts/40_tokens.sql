-- API tokens for fstore-server: random, shown once, stored as sha256.

-- A token's name is a label such as fraud-service-prod or ci.nightly (0.2.0): letters, digits,
-- '-', '_' and '.', 1 to 63 characters. Raises 22023 otherwise.
CREATE OR REPLACE FUNCTION fstore._check_token_name(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF _check_token_name.name IS NULL OR _check_token_name.name !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
    RAISE EXCEPTION 'invalid token name %', COALESCE(quote_literal(_check_token_name.name), 'NULL')
      USING ERRCODE = '22023',
            HINT = 'Token names hold letters, digits, ''-'', ''_'' and ''.'', 1 to 63 characters.';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION fstore.create_api_token(name text, role text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  token text;
BEGIN
  PERFORM fstore._check_token_name(create_api_token.name);
  IF create_api_token.role IS NULL OR create_api_token.role NOT IN ('reader', 'writer', 'admin') THEN
    RAISE EXCEPTION 'token role must be ''reader'', ''writer'' or ''admin'', not %',
      COALESCE(quote_literal(create_api_token.role), 'NULL') USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._lock_registry();
  IF EXISTS (SELECT FROM fstore.api_token_registry t WHERE t.name = create_api_token.name AND t.revoked_at IS NULL) THEN
    RAISE EXCEPTION 'API token "%" already exists', create_api_token.name USING ERRCODE = '42710';
  END IF;
  DELETE FROM fstore.api_token_registry t WHERE t.name = create_api_token.name;  -- a revoked one
  -- Two v4 UUIDs from pg_strong_random: 244 random bits.
  token := 'fst_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
  INSERT INTO fstore.api_token_registry (name, role, token_hash, created_by)
  VALUES (create_api_token.name, create_api_token.role, sha256(convert_to(token, 'UTF8')), fstore._caller());
  PERFORM fstore._log('api_token', create_api_token.name, 'create', NULL, NULL,
                      jsonb_build_object('role', create_api_token.role));
  RETURN token;
END
$$;

CREATE OR REPLACE FUNCTION fstore.revoke_api_token(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM fstore._lock_registry();
  UPDATE fstore.api_token_registry t SET revoked_at = now()
   WHERE t.name = revoke_api_token.name AND t.revoked_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'API token "%" does not exist or is already revoked', revoke_api_token.name
      USING ERRCODE = '42704';
  END IF;
  PERFORM fstore._log('api_token', revoke_api_token.name, 'revoke', NULL, NULL);
END
$$;

-- The role of a live token, or NULL. Used by fstore-server; the lookup is by hash, so the
-- comparison never touches the secret itself.
CREATE OR REPLACE FUNCTION fstore.lookup_api_token(token text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT t.role FROM fstore.api_token_registry t
   WHERE t.token_hash = sha256(convert_to(lookup_api_token.token, 'UTF8')) AND t.revoked_at IS NULL
$$;
