-- A registry of 10,000 features for the browser tests: 20 views of 500 features, tags on every
-- feature, one feature with the tag 'ui-needle'. Only the registry: no rows.
SELECT fstore.create_entity('account', 'account_id', 'bigint', description => 'A bank account', tags => ARRAY['big']);
SELECT fstore.create_feature_view(format('big_view_%s', v), 'account',
         (SELECT jsonb_agg(jsonb_build_object('name', format('f_%s_%s', v, f), 'type', 'float8',
                                              'description', format('feature %s of view %s', f, v),
                                              'tags', jsonb_build_array(format('group-%s', f % 50),
                                                                        CASE WHEN v = 7 AND f = 123 THEN 'ui-needle' ELSE 'big' END)))
            FROM generate_series(1, 500) f),
         online => false, description => format('view %s of the big registry', v), tags => ARRAY['big'])
  FROM generate_series(1, 20) v;
SELECT fstore.create_feature_service('big_model', ARRAY['big_view_1:*', 'big_view_7:f_7_123']);
