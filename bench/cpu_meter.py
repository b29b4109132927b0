"""How busy the machine was during a benchmark window, and how much of that was the benchmark."""

from __future__ import annotations

import contextlib
import time

import psutil


class CpuMeter:
    """CPU busy on the whole machine versus this benchmark's own process trees, over a window.

    Other processes competing for the cores make every figure worse; the report shows how much.
    """

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.ours = 0.0
        self.busy = 0.0
        self.wall = 0.0
        # CPU seconds of each root's process tree over the window, by root pid.
        self.by_root: dict[int, float] = {}
        self._start: tuple[float, float, dict[int, float]] | None = None
        self._families: dict[int, int] = {}

    def _tree(self) -> dict[int, float]:
        seconds: dict[int, float] = {}
        for root in self.roots:
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(root)
                for process in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = process.cpu_times()
                        seconds[process.pid] = times.user + times.system
                        self._families[process.pid] = root
        return seconds

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()._asdict()
        # guest time is already inside user/nice on Linux; steal counts as taken from us.
        idle = ("idle", "iowait", "guest", "guest_nice")
        return sum(v for k, v in times.items() if k not in idle)

    def start(self) -> None:
        self._start = (time.monotonic(), self._machine_busy(), self._tree())

    def stop(self) -> None:
        if self._start is None:
            return
        started, busy, before = self._start
        self.wall = time.monotonic() - started
        self.busy = self._machine_busy() - busy
        after = self._tree()
        self.ours = sum(s - before.get(pid, 0.0) for pid, s in after.items())
        self.by_root = dict.fromkeys(self.roots, 0.0)
        for pid, s in after.items():
            self.by_root[self._families[pid]] += s - before.get(pid, 0.0)

    def describe(self) -> str:
        if not self.wall:
            return "not measured"
        others = max(0.0, self.busy - self.ours) / self.wall
        verdict = "quiet" if others < 0.15 else "CONTENDED: figures are pessimistic"
        return (
            f"{self.busy / self.wall:.2f} of {psutil.cpu_count()} cores busy; this benchmark "
            f"{self.ours / self.wall:.2f}, others (processes, steal) {others:.2f} ({verdict})"
        )
