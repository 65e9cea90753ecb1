"""``python -m connector.cli`` runs the command line."""

from connector.cli import main

main()
