"""Command-line option values checked before anything runs: a bad value is exit 2 naming the option,
never a failure of every trial (see :func:`trial_timeout`)."""

from __future__ import annotations

import math

MAX_TRIAL_TIMEOUT_SECONDS = 86400.0
"""The longest deadline a trial may have (a scenario's ``timeout`` has the same bound)."""


class OptionError(Exception):
    """A command-line option has an invalid value; the message is one line naming the option."""


def trial_timeout(value: object, option: str = "--chaos-timeout") -> float:
    """``--chaos-timeout``: a finite number of seconds, greater than 0 and at most a day. There is no
    value that turns the deadline off (``0`` is refused rather than meaning "no deadline")."""
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        raise OptionError(f"{option}: not a number of seconds: {text!r}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TRIAL_TIMEOUT_SECONDS:
        raise OptionError(
            f"{option}: must be a number of seconds greater than 0 and at most "
            f"{MAX_TRIAL_TIMEOUT_SECONDS:g} (got {text!r}); a trial always has a deadline"
        )
    return seconds
