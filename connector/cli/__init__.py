"""The ``connector`` command line: :mod:`.main` holds the group and the identity, database and
dataset commands, one module per further area (:mod:`.policies`, :mod:`.staging`,
:mod:`.harvest`, :mod:`.dsp`), and :mod:`.common` what they share.
"""

from connector.cli.main import main

__all__ = ["main"]
