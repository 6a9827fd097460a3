"""fstore's Python client: Feast's FeatureStore API over fstore (PostgreSQL + fstore-server)."""
from .catalog import Entity, FeatureService, FeatureView, Field
from .errors import FstoreError, HTTPError, SQLError
from .online import OnlineResponse
from .store import FeatureStore, RetrievalJob

__all__ = ["FeatureStore", "RetrievalJob", "OnlineResponse", "Entity", "FeatureView", "FeatureService",
           "Field", "FstoreError", "SQLError", "HTTPError"]
__version__ = "0.2.0"
