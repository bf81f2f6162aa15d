"""Domain errors of merchants, trips, bookings and city services (stable `code`s for the API)."""

from superapp.exceptions import Conflict, DomainError


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
