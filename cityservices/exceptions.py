"""Domain errors of merchants, trips, bookings and city services (stable `code`s for the API)."""

from superapp.exceptions import Conflict, DomainError


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
