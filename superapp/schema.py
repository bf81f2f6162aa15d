"""The project's drf-spectacular AutoSchema (in its own module: importing drf_spectacular.openapi from
`superapp.api` would be circular, as DRF's settings import the pagination class from there)."""

from __future__ import annotations

from typing import Any

import drf_spectacular.openapi


class AutoSchema(drf_spectacular.openapi.AutoSchema):
    """Names a GET that answers a cursor page (`paginated(...)`) `<path>_list`, like a generic list view, and
    documents the filters of a list view that declares `filterset_class` (applied by `superapp.api.cursor_page`)
    from the FilterSet itself, without a queryset (no `swagger_fake_view` guard)."""

    def _get_filter_parameters(self):
        filterset_class = getattr(self.view, "filterset_class", None)
        if filterset_class is None or hasattr(self.view, "get_queryset") or not self._is_list_view():
            return super()._get_filter_parameters()
        from django_filters.rest_framework import DjangoFilterBackend
        from drf_spectacular.contrib.django_filters import DjangoFilterExtension

        extension = DjangoFilterExtension(DjangoFilterBackend())
        model = filterset_class._meta.model
        parameters = []
        for name, field in filterset_class.base_filters.items():
            parameters += extension.resolve_filter_field(self, model, filterset_class, name, field)
        return parameters

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
