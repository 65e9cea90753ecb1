"""Imports every table module so that ``Base.metadata`` knows them all (for Alembic)."""

from connector import audit  # noqa: F401
from connector.catalog import models as catalog_models  # noqa: F401
from connector.catalog.harvest import models as harvest_models  # noqa: F401
from connector.dsp import models as dsp_models  # noqa: F401
from connector.identity import models as identity_models  # noqa: F401
from connector.policies import models as policy_models  # noqa: F401
from connector.staging import models as staging_models  # noqa: F401
