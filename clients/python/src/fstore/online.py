"""OnlineResponse: POST /get-online-features answers in Feast's shapes."""
from datetime import datetime

import pandas as pd

TIMESTAMP_POSTFIX = "__ts"


def _epoch_seconds(text):
    """RFC 3339 UTC text -> integer epoch seconds (Feast's event timestamp form)."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class OnlineResponse:
    """The server's column-major answer: feature_names, and per name values, statuses, timestamps."""

    def __init__(self, answer):
        self.proto = answer   # the JSON answer, where Feast keeps its protobuf
        self.metadata = answer.get("metadata", {})
        self.feature_names = list(self.metadata.get("feature_names", []))
        self.results = answer.get("results", [])

    @classmethod
    def merge(cls, answers):
        """One response from the answers of consecutive entity batches."""
        first = answers[0]
        merged = {"metadata": first.get("metadata", {}), "results": [
            {k: [x for a in answers for x in a["results"][i][k]] for k in ("values", "statuses", "event_timestamps")}
            for i in range(len(first.get("results", [])))]}
        return cls(merged)

    def to_dict(self, include_event_timestamps=False):
        """Feast's dict of lists: join keys and feature names (or view__feature) -> values, plus
        `<name>__ts` epoch seconds with include_event_timestamps."""
        out = {}
        for name, result in zip(self.feature_names, self.results):
            out[name] = list(result["values"])
            if include_event_timestamps:
                out[name + TIMESTAMP_POSTFIX] = [_epoch_seconds(t) for t in result["event_timestamps"]]
        return out

    def statuses(self):
        """name -> statuses (PRESENT, NOT_FOUND, NULL_VALUE, OUTSIDE_MAX_AGE), one per entity row."""
        return {name: list(r["statuses"]) for name, r in zip(self.feature_names, self.results)}

    def to_df(self, include_event_timestamps=False):
        """to_dict() as a DataFrame."""
        return pd.DataFrame(self.to_dict(include_event_timestamps))
