"""Cassettes are never lost: two sessions recording into one cassette both keep their interactions,
and a full disk or a SIGKILL during a save leaves the previous cassette readable. Real vcrpy
cassettes, real OpenAI client traffic from the scripted model server, real processes and signals."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
import yaml

from durable_chaos.infra.cassettes import CassetteError, cassette_traffic, load
from durable_chaos.infra.model_server import ScriptedServer

SCRIPT = {"conversations": [{"match": "", "turns": [{"text": "Hello!"}]}]}

RECORDER = """\
import asyncio, os, sys, time
from pathlib import Path

import openai

from durable_chaos.infra.cassettes import cassette_traffic
from durable_chaos.infra.model_server import ScriptedServer

cassette, prompt, ready, other, saving = sys.argv[1:6]
if saving != "-":  # stop inside the save, just before the rename, for the parent's SIGKILL
    real_replace = os.replace

    def slow_replace(src, dst):
        Path(saving).touch()
        time.sleep(120)
        real_replace(src, dst)

    os.replace = slow_replace


async def chat() -> str:
    async with openai.AsyncOpenAI(base_url="https://api.openai.com/v1", api_key="sk-x", max_retries=0) as c:
        messages = [{"role": "user", "content": prompt}]
        done = await c.chat.completions.create(model="gpt-4o-mini", messages=messages)
    return done.choices[0].message.content


SCRIPT = {"conversations": [{"match": "", "turns": [{"text": "Hello!"}]}]}
with ScriptedServer(SCRIPT) as server, cassette_traffic(Path(cassette), "record", upstream=server.base_url):
    assert asyncio.run(chat()) == "Hello!"
    Path(ready).touch()
    deadline = time.monotonic() + 60
    while other != "-" and not Path(other).exists():  # both have read the cassette before either saves
        assert time.monotonic() < deadline, "the other recording never got going"
        time.sleep(0.05)
"""


async def _chat(prompt: str) -> str:
    async with openai.AsyncOpenAI(
        base_url="https://api.openai.com/v1", api_key="sk-x", max_retries=0
    ) as client:
        done = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )
    return done.choices[0].message.content or ""


def _record(cassette: Path, prompt: str) -> None:
    with ScriptedServer(SCRIPT) as server, cassette_traffic(cassette, "record", upstream=server.base_url):
        assert asyncio.run(_chat(prompt)) == "Hello!"


def _prompts(cassette: Path) -> list[str]:
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    return sorted(yaml.safe_load(i["request"]["body"])["messages"][0]["content"] for i in interactions)


def _recorder(
    tmp_path: Path, cassette: Path, prompt: str, other: str = "-", saving: str = "-"
) -> subprocess.Popen:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    ready = tmp_path / f"ready-{prompt}"
    return subprocess.Popen([sys.executable, str(script), str(cassette), prompt, str(ready), other, saving])


def test_two_sessions_recording_into_one_cassette_keep_both(tmp_path: Path) -> None:
    cassette = tmp_path / "cassettes" / "shared.yaml"
    _record(cassette, "zero")  # what was there before both sessions
    first = _recorder(tmp_path, cassette, "one", other=str(tmp_path / "ready-two"))
    second = _recorder(tmp_path, cassette, "two", other=str(tmp_path / "ready-one"))
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    assert _prompts(cassette) == ["one", "two", "zero"]
    with cassette_traffic(cassette, "replay") as session:
        for prompt in ("zero", "one", "two"):
            assert asyncio.run(_chat(prompt)) == "Hello!"
    assert session.misses == []
    assert sorted(p.name for p in cassette.parent.iterdir()) == ["shared.yaml"]  # no lock or temp file left


def test_a_sigkill_during_the_save_leaves_the_previous_cassette(tmp_path: Path) -> None:
    cassette = tmp_path / "cassettes" / "killed.yaml"
    _record(cassette, "zero")
    before = cassette.read_bytes()
    saving = tmp_path / "saving"
    recorder = _recorder(tmp_path, cassette, "one", saving=str(saving))
    deadline = time.monotonic() + 120
    while not saving.exists():
        assert recorder.poll() is None and time.monotonic() < deadline, "the recorder never reached its save"
        time.sleep(0.05)
    os.kill(recorder.pid, signal.SIGKILL)
    assert recorder.wait(timeout=30) == -signal.SIGKILL
    assert cassette.read_bytes() == before
    assert len(load(cassette, "replay").requests) == 1
    # the next save clears the killed save's temporary file
    assert [p.name for p in cassette.parent.iterdir() if p.name.endswith(".tmp")]
    _record(cassette, "two")
    assert _prompts(cassette) == ["two", "zero"]
    assert sorted(p.name for p in cassette.parent.iterdir()) == ["killed.yaml"]


def test_a_failing_write_leaves_the_previous_cassette_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = tmp_path / "cassettes" / "full.yaml"
    _record(cassette, "zero")
    before = cassette.read_bytes()

    def full(fd: int) -> None:  # where a full disk shows on filesystems that allocate late
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("durable_chaos.atomic.os.fsync", full)
    with pytest.raises(
        CassetteError, match="could not be saved .*No space left on device.*previous cassette"
    ):
        _record(cassette, "one")
    assert cassette.read_bytes() == before
    assert sorted(p.name for p in cassette.parent.iterdir()) == ["full.yaml"]


def test_a_full_disk_leaves_the_previous_cassette(tmp_path: Path) -> None:
    """A real full filesystem: a 64 KiB tmpfs (needs root to mount)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        cassette = disk / "full.yaml"
        _record(cassette, "zero")
        before = cassette.read_bytes()
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the disk: less room than a save needs
        try:
            while os.write(fd, b"\0" * 1024):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        with pytest.raises(CassetteError, match="could not be saved .*No space left on device"):
            _record(cassette, "one")
        assert cassette.read_bytes() == before
        assert len(load(cassette, "replay").requests) == 1
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "full.yaml"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)
