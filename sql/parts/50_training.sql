-- Training sets: the point-in-time join engine (extension/training_set*.cpp).
-- transform (0.2.0): NULL raw values; 'fit', 'latest' or a version number (70_transforms.sql).

CREATE OR REPLACE FUNCTION fstore.create_training_set(target text, entity_rows text, features text[] DEFAULT NULL,
                                           feature_service text DEFAULT NULL,
                                           full_feature_names boolean DEFAULT false,
                                           transform text DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'fstore_create_training_set' LANGUAGE C VOLATILE;
