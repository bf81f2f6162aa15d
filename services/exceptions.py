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


# --- Bookings -----------------------------------------------------------------------------------
class ProductUnavailable(DomainError):
    code = "product_unavailable"
    default_message = "This product is not bookable."


class BookingInPast(DomainError):
    code = "booking_in_past"
    default_message = "Cannot book a date or slot in the past."


class PartySizeAboveCapacity(DomainError):
    code = "party_size_above_capacity"
    default_message = "The party is larger than this product allows."


class InvalidBookingDates(DomainError):
    code = "invalid_booking_dates"
    default_message = "Invalid booking dates."


class NoAvailability(Conflict):
    code = "no_availability"
    default_message = "Not enough availability for these dates."


class HoldExpired(Conflict):
    code = "hold_expired"
    default_message = "The hold on this booking has expired; book again."


class BookingStateConflict(Conflict):
    code = "booking_state_conflict"
    default_message = "The booking is not in a state that allows this."


# --- City services ------------------------------------------------------------------------------
class InvalidCustomerNumber(DomainError):
    code = "invalid_customer_number"
    default_message = "The provider does not know this customer number."


class BillAccountProofInvalid(DomainError):
    code = "bill_account_proof_invalid"
    default_message = "That is not the amount of this account's latest bill."


class BillAlreadyPaid(Conflict):
    code = "bill_already_paid"
    default_message = "This bill is already paid."


class InvalidAmount(DomainError):
    code = "invalid_amount"
    default_message = "Invalid amount."


# --- Public-service appointments ----------------------------------------------------------------
class AppointmentInPast(DomainError):
    code = "appointment_in_past"
    default_message = "This appointment time has already begun."


class AppointmentSlotFull(Conflict):
    code = "appointment_slot_full"
    default_message = "This appointment time is fully booked; pick another."


class AppointmentExists(Conflict):
    code = "appointment_exists"
    default_message = "You already have an appointment at this time."


class AppointmentStateConflict(Conflict):
    code = "appointment_state_conflict"
    default_message = "The appointment is not in a state that allows this."
