from superapp.exceptions import DomainError, TooManyAttempts  # noqa: F401  (raised by superapp.attempts)


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"
    default_message = "Wrong username or password."


class UsernameTaken(DomainError):
    status_code = 409
    code = "username_taken"
    default_message = "This username is taken."


class WrongPassword(DomainError):
    status_code = 400
    code = "wrong_password"
    default_message = "The current password is wrong."
