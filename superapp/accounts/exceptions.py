from superapp.exceptions import DomainError


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"
    default_message = "Wrong username or password."


class TooManyAttempts(DomainError):
    status_code = 429
    code = "throttled"
    default_message = "Too many failed attempts; retry later."

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Too many failed attempts; retry in {retry_after_s} s.", details={"retry_after_s": retry_after_s}
        )
        self.retry_after_s = retry_after_s


class UsernameTaken(DomainError):
    status_code = 409
    code = "username_taken"
    default_message = "This username is taken."


class WrongPassword(DomainError):
    status_code = 400
    code = "wrong_password"
    default_message = "The current password is wrong."
