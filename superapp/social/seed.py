"""Demo world for this app (filled in by its issue)."""


def seed(*, rng, stdout) -> None:
    return None
