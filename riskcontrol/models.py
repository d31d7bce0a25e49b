"""Every domain's models imported in one place, so the metadata is complete for Alembic."""

from __future__ import annotations

from riskcontrol.core import audit as _audit  # noqa: F401
from riskcontrol.core import deadlines as _deadlines  # noqa: F401
from riskcontrol.core import outbox as _outbox  # noqa: F401
from riskcontrol.core import worker as _worker  # noqa: F401
from riskcontrol.core.db import Base
from riskcontrol.escalation import models as _escalation  # noqa: F401
from riskcontrol.grid import models as _grid  # noqa: F401
from riskcontrol.hazards import inspection_models as _inspections  # noqa: F401
from riskcontrol.hazards import models as _hazards  # noqa: F401
from riskcontrol.incidents import models as _incidents  # noqa: F401
from riskcontrol.notify import models as _notify  # noqa: F401
from riskcontrol.observations import models as _observations  # noqa: F401
from riskcontrol.observations import opinion_models as _opinion  # noqa: F401
from riskcontrol.people import concern_models as _concern  # noqa: F401
from riskcontrol.people import factor_models as _factors  # noqa: F401
from riskcontrol.people import models as _people  # noqa: F401
from riskcontrol.privacy import models as _privacy  # noqa: F401
from riskcontrol.privacy.subject import models as _subject  # noqa: F401
from riskcontrol.reviews import models as _reviews  # noqa: F401

metadata = Base.metadata
