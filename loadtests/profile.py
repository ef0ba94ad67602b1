"""Where a running collector spends its time: py-spy samples, summarised by function.

The throughput benchmark starts a ``Sampler`` around the one-process collector's runs. py-spy
(``pip install py-spy``) records collapsed stacks; the summary gives each function's share of the
samples, inclusive (the function and what it calls) and own (the function itself).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLES_PER_SECOND = 250
# Files whose frames sit at the root of every stack (start-up, the event loop's run): left out of
# the inclusive listing, where they would all read as the whole.
ROOT_FILES = (
    "<frozen runpy>", "asyncio/runners.py", "uvicorn/main.py", "uvicorn/server.py",
    "uvicorn/_compat.py", "collector/cli.py", "collector/serve.py", "threading.py",
)  # fmt: skip
_ROOTS = tuple(f"({file})" for file in ROOT_FILES)
_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


class Sampler:
    def __init__(self, pid: int, directory: Path) -> None:
        found = shutil.which("py-spy") or shutil.which("py-spy", path=Path(sys.executable).parent)
        if found is None:
            raise SystemExit("py-spy is not installed (pip install py-spy)")
        self.py_spy = found
        self.pid = pid
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.outputs: list[Path] = []
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        output = self.directory / f"collector-{len(self.outputs) + 1}.txt"
        self.outputs.append(output)
        self._process = subprocess.Popen(
            [
                self.py_spy, "record", "--pid", str(self.pid), "--format", "raw",
                "--rate", str(SAMPLES_PER_SECOND), "--nonblocking", "--function", "--gil",
                "--output", str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its output and exits
            self._process.wait(60)
            self._process = None

    def summary(self, top: int = 25) -> str:
        return summarise([path for path in self.outputs if path.exists()], top)


def summarise(paths: list[Path], top: int = 25) -> str:
    """The functions with the largest inclusive and own shares of the samples in ``paths``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_label(frame) for frame in stack.split(";")]
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    if total == 0:
        return "py-spy recorded no samples"
    lines = [f"py-spy: {total:,} samples of the thread holding the GIL"]
    lines.append("inclusive share (the function and what it calls):")
    shown = [(name, n) for name, n in inclusive.most_common() if not name.endswith(_ROOTS)]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in shown[:top]]
    lines.append("own share (the function itself):")
    lines += [f"  {count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    return "\n".join(lines)


def _label(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({match['file']})"
