
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cityservices.models import (
    Bill,
    BillAccount,
    BillReadStatus,
    Notification,
    ParkingSession,
    ServiceProvider,
    TransitCard,
    TransitTopUp,
)
from cityservices.services import bill_status
from merchants.serializers import CityRefSerializer
from payments.services import money_from_input
from superapp.api import AmountField, MoneySerializer, paginated


# --- City services ------------------------------------------------------------------------------
class ServiceProviderSerializer(serializers.ModelSerializer):
    city = CityRefSerializer(read_only=True)
    merchant_id = serializers.IntegerField(read_only=True)
    hourly_rate = serializers.SerializerMethodField()

    class Meta:
        model = ServiceProvider
        fields = ["id", "code", "name", "kind", "city", "merchant_id", "customer_number_pattern", "hourly_rate"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer(allow_null=True))
    def get_hourly_rate(self, provider: ServiceProvider) -> dict | None:
        if provider.hourly_rate is None:
            return None
        return MoneySerializer.of(provider.hourly_rate, provider.city.currency)


class CityServicesParamsSerializer(serializers.Serializer):
    city = serializers.CharField(required=False, max_length=100, help_text="City id or slug; default: where you are")


class BillAccountSerializer(serializers.ModelSerializer):
    provider = ServiceProviderSerializer(read_only=True)

    class Meta:
        model = BillAccount
        fields = ["id", "provider", "customer_number", "nickname", "created_at"]
        read_only_fields = fields


class BillAccountLinkSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField(min_value=1)
    customer_number = serializers.CharField(max_length=40)
    latest_bill_amount = AmountField(help_text="Proof that the account is yours: the amount of its latest bill "
                                               '(major units, e.g. "86.40"). 5 wrong answers per hour, then 429.')
    nickname = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


class BillSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(help_text="As of today at the provider: a due bill past its due "
                                                         "date is `overdue`")
    provider = serializers.SerializerMethodField()
    customer_number = serializers.CharField(source="account.customer_number", read_only=True)

    class Meta:
        model = Bill
        fields = ["id", "account_id", "provider", "customer_number", "reference", "period", "amount", "due_on",
                  "status", "paid_at", "payment_id", "receipt_number"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=BillReadStatus.choices))
    def get_status(self, bill: Bill) -> str:
        return bill_status(bill)

    @extend_schema_field(MoneySerializer)
    def get_amount(self, bill: Bill) -> dict:
        return MoneySerializer.of(bill.amount, bill.currency)

    @extend_schema_field(serializers.DictField())
    def get_provider(self, bill: Bill) -> dict:
        provider = bill.account.provider
        return {"id": provider.pk, "name": provider.name, "kind": provider.kind, "merchant_id": provider.merchant_id}


class BillListParamsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BillReadStatus.choices, required=False)


class TransitCardSerializer(serializers.ModelSerializer):
    provider = ServiceProviderSerializer(read_only=True)
    balance = serializers.SerializerMethodField()

    class Meta:
        model = TransitCard
        fields = ["id", "provider", "card_number", "balance", "created_at"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_balance(self, card: TransitCard) -> dict:
        return MoneySerializer.of(card.balance, card.currency)


class TransitCardLinkSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField(min_value=1)
    card_number = serializers.CharField(max_length=40)


class AmountInputSerializer(serializers.Serializer):
    amount = AmountField(help_text="Decimal string in major units, e.g. `50.00`")
    currency = serializers.CharField(max_length=3)

    def validate(self, attrs):
        # validated: Money (the service checks the range against the card's own currency and limit)
        attrs["amount"] = money_from_input(attrs["amount"], attrs["currency"], positive=False)
        return attrs


class TransitTopUpSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    balance_after = serializers.SerializerMethodField()
    card = TransitCardSerializer(read_only=True)

    class Meta:
        model = TransitTopUp
        fields = ["id", "card", "amount", "balance_after", "payment_id", "created_at"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_amount(self, top_up: TransitTopUp) -> dict:
        return MoneySerializer.of(top_up.amount, top_up.card.currency)

    @extend_schema_field(MoneySerializer)
    def get_balance_after(self, top_up: TransitTopUp) -> dict:
        return MoneySerializer.of(top_up.balance_after, top_up.card.currency)


class ParkingRequestSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField(min_value=1)
    plate = serializers.RegexField(r"^[A-Za-z0-9 \-]{2,16}$", max_length=16)
    minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)


class ParkingSessionSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()

    class Meta:
        model = ParkingSession
        fields = ["id", "provider_id", "plate", "starts_at", "ends_at", "amount", "payment_id", "created_at"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_amount(self, session: ParkingSession) -> dict:
        return MoneySerializer.of(session.amount, session.currency)


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "data", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class NotificationListParamsSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)


class MarkedReadSerializer(serializers.Serializer):
    marked_read = serializers.IntegerField()


PaginatedBillAccountList = paginated(BillAccountSerializer, "PaginatedBillAccountList")
PaginatedBillList = paginated(BillSerializer, "PaginatedBillList")
PaginatedTransitCardList = paginated(TransitCardSerializer, "PaginatedTransitCardList")
PaginatedParkingSessionList = paginated(ParkingSessionSerializer, "PaginatedParkingSessionList")
PaginatedNotificationList = paginated(NotificationSerializer, "PaginatedNotificationList")
PaginatedServiceProviderList = paginated(ServiceProviderSerializer, "PaginatedServiceProviderList")
