"""Domain errors of merchants, trips, bookings and city services (stable `code`s for the API)."""

from superapp.exceptions import Conflict, DomainError


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
