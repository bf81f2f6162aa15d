"""Demo world for merchants, city services and bookings."""


def seed(*, rng, stdout) -> None:
    """Filled in by the services issue."""


def seed_bookings(*, rng, stdout) -> None:
    """Bookings, trips and paid bills (after the wallets exist). Filled in by the services issue."""
