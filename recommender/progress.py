"""tqdm progress for the training pipeline (commands): one line per stage, a bar per fit iteration."""

from __future__ import annotations

from tqdm import tqdm

from recommender.training import TrainingProgress


class TqdmProgress(TrainingProgress):
    def __init__(self, stream, *, disable: bool = False) -> None:
        self.stream = stream
        self.disable = disable
        self.bar: tqdm | None = None

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def stage(self, name: str) -> None:
        self._close()
        unit = {"extract": "rows", "fit": "it"}.get(name)
        if unit:
            self.bar = tqdm(desc=name, unit=unit, unit_scale=unit == "rows", file=self.stream, disable=self.disable,
                            dynamic_ncols=True, leave=True)

    def stage_done(self, name: str, seconds: float) -> None:
        self._close()
        if not self.disable:
            self.stream.write(f"  {name:<9} {seconds:8.2f}s\n")

    def iteration(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

    def rows(self, count: int) -> None:
        if self.bar is not None:
            self.bar.n = count
            self.bar.refresh()
