"""Feast-shaped objects for fstore's catalog (fstore.entities, feature_views, features, feature_services)."""
from dataclasses import dataclass, field
from datetime import timedelta
from typing import List, Optional


@dataclass
class Field:
    """One feature of a view (Feast's Field): name, dtype (the SQL type) and fstore's metadata."""
    name: str
    dtype: str
    description: str = ""
    tags: List[str] = field(default_factory=list)
    status: str = "active"
    validation: Optional[dict] = None
    expression: Optional[str] = None


@dataclass
class Entity:
    """An entity (Feast's Entity): one join key with its SQL type (value_type)."""
    name: str
    join_key: str
    value_type: str
    description: str = ""
    owner: str = ""
    tags: List[str] = field(default_factory=list)

    @property
    def join_keys(self):
        """Feast's list form of the join key."""
        return [self.join_key]


@dataclass
class FeatureView:
    """A feature view (Feast's FeatureView) with its non-archived features in column order."""
    name: str
    entity: str
    join_key: str
    features: List[Field]
    ttl: Optional[timedelta]
    online: bool
    version: str
    table_name: str
    description: str = ""
    owner: str = ""
    tags: List[str] = field(default_factory=list)

    @property
    def entities(self):
        """Feast's list of entity names."""
        return [self.entity]

    @property
    def schema(self):
        """Feast's name for the feature list."""
        return self.features


@dataclass
class FeatureService:
    """A feature service (Feast's FeatureService): a named list of `view:feature` references."""
    name: str
    features: List[str]
    description: str = ""
    owner: str = ""
    tags: List[str] = field(default_factory=list)
