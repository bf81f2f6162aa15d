from rest_framework import serializers

from recommender.models import InteractionKind

CLIENT_EVENT_KINDS = [InteractionKind.IMPRESSION, InteractionKind.CLICK, InteractionKind.DISMISS,
                      InteractionKind.VIEW, InteractionKind.SAVE]
MAX_EVENTS_PER_BATCH = 100


class ClientEventSerializer(serializers.Serializer):
    id = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,64}$", help_text="Client-generated id, unique per user "
                                "(e.g. a UUID); a resent event with the same id is stored once.")
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in CLIENT_EVENT_KINDS])
    merchant = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Merchant id.")
    occurred_at = serializers.DateTimeField(required=False, help_text="When it happened on the device "
                                            "(default: now). At most 30 days old, not in the future.")


class ClientEventBatchSerializer(serializers.Serializer):
    events = ClientEventSerializer(many=True, allow_empty=False, max_length=MAX_EVENTS_PER_BATCH)


class ClientEventResultSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])


class ClientEventBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    events = ClientEventResultSerializer(many=True)
