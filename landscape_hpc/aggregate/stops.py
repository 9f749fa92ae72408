"""How a task ended, from its stop reasons: converged to a critical point, or in a channel.

The rules are those of :mod:`.outcomes` (*converged*, class ``channel``); they live here because
both the loss levels (:func:`.levels.quantise`) and the outcome classes use them, and the classes
use the levels: this module keeps the imports one way (levels, then outcomes).
"""

from __future__ import annotations

import numpy as np

from ..dynamics.record import Polish, Stop
from ..store.layout import DONE

CONVERGED_STOPS = (Stop.MIN_GRADNORM, Stop.MIN_LOSS)
#: stops that end a trajectory in a channel to infinity (class ``channel``)
CHANNEL_STOPS = (Stop.CHANNEL, Stop.MAXNORM)


def converged(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Which tasks converged to a critical point (flat ``status``, ``stopped_by``,
    ``polish_stopped_by``)."""
    stop, polish = cols["stopped_by"], cols["polish_stopped_by"]
    reached = np.isin(stop, CONVERGED_STOPS) | (polish == Polish.GTOL)
    return (cols["status"] == DONE) & reached & ~np.isin(stop, (*CHANNEL_STOPS, Stop.NONFINITE))
