from superapp.exceptions import DomainError, NotFound


class TrafficError(DomainError):
    status_code = 400
    code = "traffic_error"


class BatchTooLarge(TrafficError):
    status_code = 413
    code = "batch_too_large"
    default_message = "Too many rows in one batch."


class OutsideRoadNetwork(TrafficError):
    status_code = 422
    code = "outside_road_network"
    default_message = "No road network near this point."


class NoRoute(TrafficError):
    status_code = 422
    code = "no_route"
    default_message = "No drivable route between these points."


class PlanNotAvailable(NotFound):
    code = "plan_not_available"
    default_message = "No timing plan has been computed for this intersection yet."


class NotEnoughData(TrafficError):
    status_code = 409
    code = "not_enough_data"
    default_message = "Not enough observations for this operation."
