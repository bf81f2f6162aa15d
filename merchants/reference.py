"""Reference cities, loaded by migration 0002 and restored by tests after a transactional flush.

VAT is the country's standard rate used for tax-free refunds (0 where the country has no VAT refund
scheme for tourists, e.g. the US sales tax)."""

from decimal import Decimal

CITIES = [
    # name, slug, country, currency, time zone, lat, lon, VAT
    ("Hangzhou", "hangzhou", "CN", "CNY", "Asia/Shanghai", 30.2741, 120.1551, "0.1300"),
    ("Shanghai", "shanghai", "CN", "CNY", "Asia/Shanghai", 31.2304, 121.4737, "0.1300"),
    ("Beijing", "beijing", "CN", "CNY", "Asia/Shanghai", 39.9042, 116.4074, "0.1300"),
    ("Davos", "davos", "CH", "CHF", "Europe/Zurich", 46.8027, 9.8360, "0.0810"),
    ("Zurich", "zurich", "CH", "CHF", "Europe/Zurich", 47.3769, 8.5417, "0.0810"),
    ("Paris", "paris", "FR", "EUR", "Europe/Paris", 48.8566, 2.3522, "0.2000"),
    ("London", "london", "GB", "GBP", "Europe/London", 51.5074, -0.1278, "0.2000"),
    ("Tokyo", "tokyo", "JP", "JPY", "Asia/Tokyo", 35.6762, 139.6503, "0.1000"),
    ("New York", "new-york", "US", "USD", "America/New_York", 40.7128, -74.0060, "0.0000"),
    ("Singapore", "singapore", "SG", "SGD", "Asia/Singapore", 1.3521, 103.8198, "0.0900"),
]


def load_reference_cities(city_model) -> None:
    """Create or update the reference cities; `city_model` may be a migration's historical model."""
    for name, slug, country, currency, tz, lat, lon, vat in CITIES:
        city_model.objects.update_or_create(slug=slug, defaults={
            "name": name, "country_code": country, "currency": currency, "time_zone": tz,
            "latitude": lat, "longitude": lon, "vat_rate": Decimal(vat),
        })
