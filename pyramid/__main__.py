import sys

from pyramid.cli import main

sys.exit(main())
