"""python -m services.simulator [--seed N] [--speed X] [--backfill-minutes M]"""
import sys

from . import main

sys.exit(main(sys.argv[1:]))
