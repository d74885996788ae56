"""`python -m research_repo.cli`: the same as `research-repo`."""
from . import main

main()
