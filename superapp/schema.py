"""The project's drf-spectacular AutoSchema (in its own module: importing drf_spectacular.openapi from
`superapp.api` would be circular, as DRF's settings import the pagination class from there)."""

from __future__ import annotations

from typing import Any

import drf_spectacular.openapi


class AutoSchema(drf_spectacular.openapi.AutoSchema):
    """Names a GET that answers a cursor page (`paginated(...)`) `<path>_list`, like a generic list view."""

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        if self.method == "GET" and operation_id.endswith("_retrieve") and _answers_page(
                self.get_response_serializers()):
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        return operation_id


def _answers_page(serializers_: Any) -> bool:
    if isinstance(serializers_, dict):
        serializers_ = serializers_.get(200) or serializers_.get("200")
    fields = getattr(serializers_, "_declared_fields", None) or {}
    return {"next", "previous", "results"} <= set(fields)
