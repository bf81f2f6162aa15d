"""Domain errors of merchants, trips, bookings and city services (stable `code`s for the API)."""

from superapp.exceptions import Conflict, DomainError, NotFound, PermissionDenied


class UnknownCity(DomainError):
    code = "unknown_city"
    default_message = "Unknown city."


class UnknownCategory(DomainError):
    code = "unknown_category"
    default_message = "Unknown category."


class UnknownVertical(DomainError):
    code = "unknown_vertical"
    default_message = "Unknown vertical."


class InvalidLatitude(DomainError):
    code = "invalid_latitude"
    default_message = "Latitude must be between -90 and 90."


class InvalidLongitude(DomainError):
    code = "invalid_longitude"
    default_message = "Longitude must be between -180 and 180."


class RadiusTooLarge(DomainError):
    code = "radius_too_large"
    default_message = "The radius is above the maximum."


class InvalidRadius(DomainError):
    code = "invalid_radius"
    default_message = "The radius must be a positive number of metres."


class InvalidOpeningHours(DomainError):
    code = "invalid_opening_hours"
    default_message = "Invalid opening hours."


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    default_message = "Merchant not found."


class NotMerchantStaff(PermissionDenied):
    code = "not_merchant_staff"
    default_message = "Only the merchant's owner or managers may do this."


class InvalidTripDates(DomainError):
    code = "invalid_trip_dates"
    default_message = "The trip must end on or after its first day."


class TripInPast(DomainError):
    code = "trip_in_past"
    default_message = "A trip cannot end in the past."


class TripCompleted(Conflict):
    code = "trip_completed"
    default_message = "This trip has already ended; there is nothing to cancel."
