"""Errors of the recommendation API (stable `code`s). Unknown city/vertical and bad coordinates reuse the
services app's errors, so a client sees the same code on `/merchants/nearby` and `/recommendations`."""

from superapp.exceptions import DomainError, NotFound


class LimitTooLarge(DomainError):
    code = "limit_too_large"
    default_message = "The limit is above the maximum."


class LocationIncomplete(DomainError):
    code = "location_incomplete"
    default_message = "Give both `lat` and `lon` (and `radius_m` only with them)."


class NoDestination(DomainError):
    code = "no_destination"
    default_message = "Give `trip` or `city`: you have no trip under way."


class TripNotFound(NotFound):
    code = "trip_not_found"
    default_message = "Trip not found."


class DestinationConflict(DomainError):
    code = "destination_conflict"
    default_message = "Give either `trip` or `city`, not both."
