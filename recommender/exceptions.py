"""Recommender domain errors (rendered in the shared error shape by superapp.api)."""

from superapp.exceptions import DomainError


class TrainingInProgress(DomainError):
    status_code = 409
    code = "training_in_progress"
    default_message = "Another training run holds the lock; try again when it has finished."


class NotEnoughData(DomainError):
    status_code = 409
    code = "not_enough_data"
    default_message = "There are not enough interactions to train a model."


class ModelVersionNotActivatable(DomainError):
    status_code = 409
    code = "model_version_not_activatable"
    default_message = "This model version cannot be activated."


class NoActiveModel(DomainError):
    status_code = 404
    code = "no_active_model"
    default_message = "No model version is active."
